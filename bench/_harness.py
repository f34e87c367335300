"""What every scenario shares: simulators served from a child process over loopback HTTP,
measurements taken in fresh processes, and the figures a scenario reports.

A scenario's simulator runs in its own process, so that omnisync's CPU time and memory are
measured apart from the simulator's; omnisync itself runs in a fresh process per
measurement, so that its peak memory is its own.
"""

from __future__ import annotations

import importlib
import multiprocessing
import resource
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from omnisync.sim import SimApp, serve

__all__ = [
    "Figure",
    "Remote",
    "ScenarioResult",
    "beside",
    "isolated",
    "peak_rss_mb",
    "served",
    "timed",
]

_SPAWN = multiprocessing.get_context("spawn")


@dataclass
class Figure:
    """One measured figure beside the limit it is judged against.

    ``ratio`` is value / limit; ``goal`` the ratio the figure should stay within (``None``
    for figures shown for information only); ``guard`` marks the ratios the CI regression
    guard compares with the committed baseline.
    """

    name: str
    value: float
    unit: str
    limit: float | None = None
    limit_name: str = ""
    goal: float | None = None
    guard: bool = False

    @property
    def ratio(self) -> float | None:
        if self.limit is None or self.limit == 0:
            return None
        return self.value / self.limit

    @property
    def met(self) -> bool | None:
        ratio = self.ratio
        if self.goal is None or ratio is None:
            return None
        return ratio <= self.goal

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


@dataclass
class ScenarioResult:
    """What a scenario measured: its figures, the sizes it ran at and notes on the run."""

    scenario: str
    title: str
    sizes: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "title": self.title,
            "sizes": self.sizes,
            "figures": [f.as_json() for f in self.figures],
            "notes": self.notes,
        }


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Timing:
    wall: float = 0.0
    cpu: float = 0.0


@contextmanager
def timed() -> Iterator[Timing]:
    """Wall-clock and CPU time (this process, user + system) of the ``with`` body."""
    timing = Timing()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield timing
    finally:
        timing.wall = time.perf_counter() - wall
        timing.cpu = time.process_time() - cpu


def isolated(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run ``function(*args)`` in a fresh process and return its result with the process's
    peak memory added as ``rss_mb``."""
    with beside(function, *args) as future:
        return future.result()


@contextmanager
def beside(function: Callable[..., dict[str, Any]], *args: Any) -> Iterator[Future[dict[str, Any]]]:
    """Start `isolated`'s work while the caller goes on; its result comes as a future."""
    with ProcessPoolExecutor(max_workers=1, mp_context=_SPAWN) as pool:
        yield pool.submit(_with_rss, function, *args)


def _with_rss(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    result = function(*args)
    return {**result, "rss_mb": peak_rss_mb()}


class Remote:
    """A simulator running in a child process, served on a loopback port.

    ``url`` reaches it; `call` runs one of its methods (or reads an attribute) over there
    and returns the result, which must pickle.
    """

    def __init__(self, connection: Connection, process: Any, port: int) -> None:
        self._connection = connection
        self._process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the simulator's method ``name``, or read its attribute ``name``."""
        return self._ask(("call", name, args, kwargs))

    def set(self, name: str, value: Any) -> None:
        """Set the simulator's attribute ``name``."""
        self._ask(("set", name, value))

    def _ask(self, message: tuple[Any, ...]) -> Any:
        self._connection.send(message)
        ok, value = self._connection.recv()
        if not ok:
            raise RuntimeError(f"the simulator failed at {message[:2]}: {value}")
        return value

    def stop(self) -> None:
        self._connection.send(None)
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()


@contextmanager
def served(factory: str, latency: float, **options: Any) -> Iterator[Remote]:
    """Serve the simulator ``factory`` ("module:function", called with ``options``) from a
    child process, with ``latency`` seconds added to every request."""
    parent, child = _SPAWN.Pipe()
    process = _SPAWN.Process(target=_serve, args=(child, factory, latency, options), daemon=True)
    process.start()
    while not parent.poll(0.5):  # building a large shop takes a while; dying takes no time
        if not process.is_alive():
            raise RuntimeError(f"the simulator {factory} died before it started serving")
    ok, port = parent.recv()
    if not ok:
        process.join()
        raise RuntimeError(f"the simulator did not start: {port}")
    remote = Remote(parent, process, port)
    try:
        yield remote
    finally:
        remote.stop()


def _serve(connection: Connection, factory: str, latency: float, options: dict[str, Any]) -> None:
    try:
        module, _, name = factory.partition(":")
        app: SimApp = getattr(importlib.import_module(module), name)(**options)
        app.faults.latency = latency
        server = serve(app)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    except Exception as exc:  # reported to the parent, which raises it
        connection.send((False, repr(exc)))
        return
    connection.send((True, server.server_address[1]))
    while (message := connection.recv()) is not None:
        try:
            with app.lock:
                if message[0] == "set":
                    setattr(app, message[1], message[2])
                    value = None
                else:
                    _, name, args, kwargs = message
                    attribute = getattr(app, name)
                    value = attribute(*args, **kwargs) if callable(attribute) else attribute
            connection.send((True, value))
        except Exception as exc:
            connection.send((False, repr(exc)))
    server.shutdown()
