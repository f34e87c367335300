"""Scenario 5, workers: order import by 1, 2 and 4 ``omnisync worker`` processes sharing one
PostgreSQL store, against channels that latency and rate limits hold back.

``channels`` simulated marketplaces (the built-in ``sim`` adapter), each served from a child
process of its own with ``latency`` added to every request and a limit of ``rate`` requests a
second (``burst`` at once), which omnisync's channels are configured to as well, hold
``orders`` orders each (1 to 5 lines over the same ``skus`` SKUs everywhere), placed before
any clock starts; omnisync reads them ``page`` at a time. For each number of workers: a fresh
store (a schema of its own in the throwaway PostgreSQL cluster of tests/postgres.py) with
the SKUs counted in, the workers started (tests/reliability/fleet.py) and registered, then
the clock runs from queueing a pull of every channel (`Workers.enqueue`, as ``omnisync
enqueue`` does) until every job has finished; every order must then be stored. Each worker
runs ``concurrency`` jobs at once (1: the workers are the only parallelism).

Limits:

(a) the channels' floor: one channel's pages fetched by a bare client, one after another,
    parsing nothing, with the rate limit lifted; or, if longer, the rate limit's bound on
    as many requests (the last one still has to be answered). A channel is worked by one
    job at a time (its job lock), so W workers need ceil(channels / (W x concurrency)) times
    that;
(b) linear scaling: one worker's measured time divided by W, or (a) where (a) is longer.

One worker is judged against (a); more workers against (b). CPU per order (the workers and
the PostgreSQL server, read from /proc over the timed part only) is shown beside one
worker's: on a machine with fewer cores than busy workers, CPU rather than the channels
binds, and a run's notes say how busy the whole machine was meanwhile (other work included).
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import re
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from bench._harness import Figure, Remote, ScenarioResult, isolated, served, timed
from bench._omnisync import LOCATION, stock_everything
from bench._shops import TOKEN, sku_names
from omnisync import plugins
from omnisync.sim import Faults, SimApp, SimMarket, SimulatorOptions
from omnisync.worker import Workers
from tests import postgres
from tests.reliability.fleet import Fleet, Shop

__all__ = ["DEFAULTS", "SMALL", "WORKERS", "market", "run"]

# A channel lets 2 requests of 10 orders through a second: 4 busy workers then need about
# 80 orders/s x 8 ms of CPU (workers and PostgreSQL), under a core of the 2-core development
# machine, so the channels bind rather than its cores. Faster channels make the workers'
# page transactions wait on each other's SKU row locks, then the cores bind (--size rate=1000).
DEFAULTS = {
    "channels": 8,
    "orders": 160,
    "skus": 500,
    "page": 10,
    "latency": 0.050,
    "rate": 2.0,
    "burst": 2.0,
    "concurrency": 1,
}
SMALL = {**DEFAULTS, "channels": 4, "orders": 80}
WORKERS = (1, 2, 4)
GOAL = 1.25
"""Near-linear: a run may take a quarter longer than its ideal."""
TIMEOUT = 600.0
"""Seconds a wait (for the workers to register, for the jobs to finish) may take."""

CONFIG = """\
[store]
url = "{store}"

[worker]
# No periodic tick: it would queue rounds of its own in the middle of a measurement.
schedule = "0 0 1 1 *"
concurrency = {concurrency}
# A job whose notification a worker missed (it was still starting) waits at most this.
poll_seconds = 0.1

[locations.{location}]
{channels}"""

# Only orders: the pulls move stock, so pushes to every channel would follow, as many as the
# timing of the pulls makes them; without them every run does the same work. The same SKUs
# on every channel, as a seller lists them: pages of different channels move the same stock.
CHANNEL = """
[channels.{name}]
adapter = "sim"
enable = ["pull_orders"]
settings = {{ base_url = "{url}", token = "{token}", page_size = {page}, \
rate_limit = {{ rate = {rate}, burst = {burst} }} }}
"""


def market(skus: int, orders: int, *, seed: int, rate: float, burst: float) -> SimApp:
    """A marketplace (the ``sim`` simulator, as its plugin registers it) listing ``skus``
    SKUs, with ``orders`` orders of 1 to 5 lines placed, behind a limit of ``rate`` requests
    a second, ``burst`` at once."""
    names = sku_names(skus)
    options = SimulatorOptions(token=TOKEN, seed=seed, products=dict.fromkeys(names, 10**6))
    shop = plugins.simulators()["sim"](options)
    assert isinstance(shop, SimMarket)
    shop.faults = Faults(rate=rate, burst=burst)
    rng = random.Random(seed)
    for _ in range(orders):
        picked = rng.sample(names, rng.randint(1, 5))
        shop.buy({sku: rng.randint(1, 3) for sku in picked})
    return shop


def run(
    channels: int,
    orders: int,
    skus: int,
    page: int,
    latency: float,
    rate: float,
    burst: float,
    concurrency: int,
) -> ScenarioResult:
    """Measure 1, 2 and 4 workers importing every channel's orders; see the module's
    docstring for the set-up and the limits."""
    result = ScenarioResult(
        "workers",
        "5. Workers (order import by 1, 2 and 4 worker processes, PostgreSQL store)",
        {
            "channels": channels,
            "orders a channel": orders,
            "skus": skus,
            "page": page,
            "latency_ms": latency * 1000,
            "rate": rate,
            "burst": burst,
            "concurrency": concurrency,
        },
    )
    total = channels * orders
    runs: dict[int, dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory() as folder,
        _cluster() as cluster,
        _markets(channels, orders, skus, latency, rate, burst) as shops,
    ):
        # The floor first, with the channel's limit lifted: a bare client does not pace.
        shops[0].set("faults", Faults(latency=latency))
        bare = isolated(_bare_client, shops[0].url, page)
        shops[0].set("faults", Faults(latency=latency, rate=rate, burst=burst))
        urls = [shop.url for shop in shops]
        for count in WORKERS:
            directory = Path(folder) / f"{count}-workers"
            directory.mkdir()
            store = cluster.new_store()
            try:
                _configure(directory, store, urls, page, rate, burst, concurrency)
                runs[count] = isolated(
                    _measure, str(directory), store, count, skus, total, _postmaster(cluster)
                )
            finally:
                cluster.drop_store(store)
    requests = bare["requests"]
    one_channel = max(bare["wall"], max(requests - burst, 0) / rate + bare["wall"] / requests)
    first = runs[WORKERS[0]]
    for count, measured in runs.items():
        floor = math.ceil(channels / (count * concurrency)) * one_channel
        label = f"{count} worker{'s' if count > 1 else ''}"
        if count == WORKERS[0]:
            limit, limit_name = floor, "channels' floor (a)"
        elif first["wall"] / count >= floor:
            limit, limit_name = first["wall"] / count, f"{WORKERS[0]} worker's / {count} (b)"
        else:
            limit, limit_name = floor, "channels' floor (a)"
        cpu = measured["cpu"] + (measured["pg_cpu"] or 0.0)
        first_cpu = first["cpu"] + (first["pg_cpu"] or 0.0)
        result.add(
            Figure(f"{label}: wall time", measured["wall"], "s", limit, limit_name, goal=GOAL),
            Figure(f"{label}: orders/s", total / measured["wall"], "orders/s"),
            Figure(
                f"{label}: CPU per order",
                cpu / total * 1e3,
                "ms",
                None if count == WORKERS[0] else first_cpu / total * 1e3,
                "" if count == WORKERS[0] else f"{WORKERS[0]} worker's",
            ),
        )
        result.notes.append(_summary(label, measured, total))
    result.add(
        Figure("peak memory of a worker", max(m["worker_rss_mb"] for m in runs.values()), "MiB")
    )
    result.notes.append(
        f"floor (a): one channel's {requests} pages in {bare['wall']:.2f} s by a bare client, "
        f"{one_channel:.2f} s under its rate limit; {_cores()} cores here"
    )
    return result


def _summary(label: str, measured: dict[str, Any], total: int) -> str:
    """What else a run found: where its CPU went, how busy the machine was, any trouble."""
    pg = measured["pg_cpu"]
    parts = [
        f"workers {measured['cpu'] / total * 1e3:.2f} ms CPU an order"
        + (f", PostgreSQL {pg / total * 1e3:.2f} ms" if pg is not None else ""),
        f"the machine's CPU {measured['busy']:.0%} busy (these workers and PostgreSQL: "
        f"{measured['ours']:.0%})",
        f"{measured['requests']} requests, {measured['limited']} answered 429",
    ]
    parts += measured["problems"]
    return f"{label}: {'; '.join(parts)}"


@contextmanager
def _cluster() -> Iterator[postgres.Cluster]:
    """The PostgreSQL cluster the tests use (a throwaway one on a loopback port, unless
    ``OMNISYNC_TEST_POSTGRES`` names a server), stopped and removed afterwards."""
    cluster = postgres.cluster()
    if cluster is None:
        raise RuntimeError(
            "the workers scenario needs PostgreSQL: install it (python3 dev.py test does, "
            "where apt-get can) or name a server in OMNISYNC_TEST_POSTGRES"
        )
    try:
        yield cluster
    finally:
        cluster.stop()


@contextmanager
def _markets(
    channels: int, orders: int, skus: int, latency: float, rate: float, burst: float
) -> Iterator[list[Remote]]:
    """``channels`` marketplaces, each served from a child process of its own (one
    process's threads would share one interpreter lock between the channels)."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                served(
                    "bench.workers:market",
                    latency,
                    skus=skus,
                    orders=orders,
                    seed=number,
                    rate=rate,
                    burst=burst,
                )
            )
            for number in range(channels)
        ]


def _configure(
    directory: Path,
    store: str,
    urls: list[str],
    page: int,
    rate: float,
    burst: float,
    concurrency: int,
) -> None:
    channels = "".join(
        CHANNEL.format(
            name=f"shop{number}", url=url, token=TOKEN, page=page, rate=rate, burst=burst
        )
        for number, url in enumerate(urls)
    )
    text = CONFIG.format(store=store, concurrency=concurrency, location=LOCATION, channels=channels)
    (directory / "omnisync.toml").write_text(text)


class _Site(Shop):
    """All `Fleet` reads of a shop, its folder and configuration file, without the shop's
    in-process simulators: this scenario's channels are served from child processes."""

    def __post_init__(self) -> None:
        self.config = self.directory / "omnisync.toml"


def _measure(
    directory: str, store: str, count: int, skus: int, expected: int, postmaster: int | None
) -> dict[str, Any]:
    """One timed run of ``count`` workers, in a fresh process whose only children are the
    workers (so that the children's resource usage is theirs)."""
    site = _Site(Path(directory), store, {})
    return asyncio.run(_drive(site, count, skus, expected, postmaster))


async def _drive(
    site: _Site, count: int, skus: int, expected: int, postmaster: int | None
) -> dict[str, Any]:
    conninfo = make_url(site.store_url).set(drivername="postgresql")
    async with (
        site.client() as client,
        Workers(client) as queue,  # creates the job tables before any worker starts
        await psycopg.AsyncConnection.connect(
            conninfo.render_as_string(hide_password=False), autocommit=True
        ) as db,
    ):
        stock_everything(client, sku_names(skus), 10**6)
        fleet = Fleet(site, count)
        try:
            await _until(db, "SELECT count(*) FROM procrastinate_workers", count, fleet)
            pids = [process.pid for process in fleet.processes]
            before = _cpu(pids), _cpu_postgres(postmaster), _machine()
            with timed() as clock:
                jobs = await queue.enqueue()
                finished = "SELECT count(*) FROM procrastinate_jobs WHERE status <> 'todo' "
                await _until(db, f"{finished} AND status <> 'doing'", len(jobs), fleet)
            after = _cpu(pids), _cpu_postgres(postmaster), _machine()
        finally:
            fleet.stop()
        imported = await _count(db, "SELECT count(*) FROM orders")
        failed = await _count(db, "SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed'")
    logs = fleet.logs()
    counts = _job_counts(logs)
    problems = []
    if imported != expected:
        problems.append(f"{imported} of {expected} orders imported")
    if failed:
        problems.append(f"{failed} of {len(jobs)} jobs failed")
    if "Traceback" in logs:
        problems.append("a worker logged a traceback")
    cpu, pg_cpu = after[0] - before[0], after[1] - before[1]
    busy, elapsed = (b - a for a, b in zip(before[2], after[2], strict=True))
    ours = cpu + pg_cpu
    return {
        "wall": clock.wall,
        "cpu": cpu,
        "pg_cpu": pg_cpu if postmaster is not None else None,
        # Shares of the whole machine's CPU time over the timed part (every core counted).
        "busy": busy / elapsed if elapsed else 0.0,
        "ours": ours / (clock.wall * _cores()),
        # The fleet is all this process's finished children: this is its largest worker's.
        "worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "requests": counts["http_requests"],
        "limited": counts["http_rate_limited"],
        "problems": problems,
    }


async def _count(db: psycopg.AsyncConnection[Any], query: str) -> int:
    cursor = await db.execute(query.encode())
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def _until(db: psycopg.AsyncConnection[Any], query: str, wanted: int, fleet: Fleet) -> None:
    """Poll ``query`` (a count) until it reaches ``wanted``."""
    deadline = time.monotonic() + TIMEOUT
    while (found := await _count(db, query)) < wanted:
        if time.monotonic() > deadline or any(p.poll() is not None for p in fleet.processes):
            tail = "\n".join(fleet.logs().splitlines()[-20:])
            raise RuntimeError(
                f"{query!r} counted {found}, not {wanted}; the workers' logs:\n{tail}"
            )
        await asyncio.sleep(0.05)


_JOB_LINE = re.compile(r" INFO pull \S+: (.*?)(?: \[|$)", re.MULTILINE)


def _job_counts(logs: str) -> Counter[str]:
    """The counts the workers logged for their jobs (``pull shop0: http_requests=16, ...``)."""
    counts: Counter[str] = Counter()
    for line in _JOB_LINE.findall(logs):
        for name, _, value in (item.partition("=") for item in line.split(", ")):
            if value.isdigit():
                counts[name] += int(value)
    return counts


_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name: state (0), ppid (1), ..., utime
    (11), stime (12), and the children's it reaped, cutime (13) and cstime (14)."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def _cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes ``pids`` used so far."""
    return sum(int(fields[11]) + int(fields[12]) for fields in map(_stat, pids)) / _TICKS


def _cpu_postgres(postmaster: int | None) -> float:
    """CPU seconds the PostgreSQL server used so far: the postmaster, the backends it reaped
    and those still running (connections come and go during a run)."""
    if postmaster is None:
        return 0.0
    ticks = sum(int(value) for value in _stat(postmaster)[11:15])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(int(entry.name))
        except OSError:  # it exited meanwhile
            continue
        if int(fields[1]) == postmaster:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / _TICKS


def _machine() -> tuple[int, int]:
    """Busy and total CPU time of the whole machine so far, in ticks (/proc/stat)."""
    user, nice, system, idle, iowait, *rest = map(int, Path("/proc/stat").read_text().split()[1:9])
    busy = user + nice + system + sum(rest)
    return busy, busy + idle + iowait


def _postmaster(cluster: postgres.Cluster) -> int | None:
    """The server's main process, where this scenario started the server (a server named
    in OMNISYNC_TEST_POSTGRES may be elsewhere, or busy with other work)."""
    if cluster.data is None:
        return None
    return int((cluster.data / "postmaster.pid").read_text().split()[0])


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _bare_client(url: str, page: int) -> dict[str, Any]:
    """The channel's floor: its order pages fetched one after another, parsing nothing."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    params: dict[str, Any] = {"limit": page}
    requests = 0
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client, timed() as clock:
        while True:
            body = client.get("/orders", params=params).raise_for_status().json()
            requests += 1
            if not body["next_cursor"]:
                break
            params["cursor"] = body["next_cursor"]
    return {"wall": clock.wall, "requests": requests}
