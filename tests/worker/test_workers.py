"""Workers sharing sync jobs through the PostgreSQL store, in this process."""

import asyncio
import contextlib

import pytest
from click.testing import CliRunner

from omnisync import AsyncOmnisync
from omnisync.cli import cli
from omnisync.config import parse_config
from omnisync.errors import ConfigError
from omnisync.worker import Workers
from tests.helpers import world

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("on_postgres")]
# The periodic tick is tested on its own: elsewhere it would queue rounds of its own.
FAST = {
    "poll_seconds": 0.1,
    "heartbeat_seconds": 0.5,
    "stalled_seconds": 2,
    "schedule": "0 0 1 1 *",
}


def stocked(tmp_path, **worker):
    settings = FAST | worker
    w = world(tmp_path, stock={"A": 10, "B": 4}, markets=("shop", "market"), worker=settings)
    for market in w.markets.values():
        for product in market.products.values():
            product.quantity = 3
    return w


async def test_a_round_of_jobs_imports_orders_and_pushes_what_each_channel_may_sell(tmp_path):
    w = stocked(tmp_path)
    w.market("shop").buy({"A": 2})
    async with w.client as om, Workers(om) as workers:
        queued = await workers.enqueue()
        # erp: pull and export; shop and market: pull and push.
        assert len(queued) == 6
        assert await workers.enqueue() == []  # the same jobs are waiting already
        await workers.run(wait=False)
        stored = await om.orders()
    assert [s.order.channel for s in stored] == ["shop"]
    assert (w.market("shop").shown("A"), w.market("market").shown("A")) == (8, 8)
    assert (w.market("shop").shown("B"), w.market("market").shown("B")) == (4, 4)
    assert [sale["reference"] for sale in w.erp.sales.values()] == [stored[0].order.reference]


async def test_a_pull_that_moved_stock_queues_every_channels_push(tmp_path):
    w = stocked(tmp_path)
    async with w.client as om, Workers(om) as workers:
        await workers.enqueue()
        await workers.run(wait=False)
        w.market("market").buy({"B": 3})
        await workers.enqueue(["market"], ["pull"])  # only the channel that sold
        await workers.run(wait=False)
    assert (w.market("shop").shown("B"), w.market("market").shown("B")) == (1, 1)


async def test_a_job_of_a_failing_channel_fails_and_the_others_go_on(tmp_path):
    w = stocked(tmp_path)
    w.market("shop").faults.inject(*[500] * 40)
    async with w.client as om, Workers(om) as workers:
        await workers.enqueue()
        await workers.run(wait=False)
        jobs = await workers.app.job_manager.list_jobs_async(status="failed")
    assert [(job.task_kwargs["channel"], job.task_kwargs["phase"]) for job in jobs] == [
        ("shop", "pull")
    ]
    assert w.market("market").shown("A") == 10


async def test_workers_need_a_postgresql_store(tmp_path):
    lite = parse_config(
        {
            "store": {"url": f"sqlite:///{tmp_path / 'x.db'}"},
            "channels": {"shop": {"adapter": "sim"}},
        },
        base_dir=tmp_path,
    )
    async with AsyncOmnisync(lite) as om:
        with pytest.raises(ConfigError, match=r"store\.url.*PostgreSQL"):
            Workers(om)


async def test_the_tick_queues_every_channel_on_schedule(tmp_path):
    w = stocked(tmp_path, schedule="* * * * * *")  # every second
    w.market("shop").buy({"A": 1})
    async with w.client as om, Workers(om) as workers:
        runner = asyncio.create_task(workers.run(name="ticking"))
        for _ in range(100):
            await asyncio.sleep(0.1)
            if w.market("market").shown("A") == 9:
                break
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    assert w.market("market").shown("A") == 9


async def test_the_jobs_of_a_dead_worker_go_back_to_the_queue(tmp_path):
    w = stocked(tmp_path)
    async with w.client as om, Workers(om) as workers:
        [pull, push] = await workers.enqueue(["shop"], ["pull", "push"])
        manager = workers.app.job_manager
        # A worker takes the pull, then dies without a word; the push waits on the channel.
        worker_id = await manager.register_worker()
        taken = await manager.fetch_job(queues=None, worker_id=worker_id)
        assert taken is not None and taken.id == pull
        # Running until idle waits for the dead worker to count as dead, then finishes both.
        await asyncio.wait_for(workers.run(wait=False), timeout=30)
        jobs = {job.id: job.status for job in await manager.list_jobs_async()}
    assert (jobs[pull], jobs[push]) == ("succeeded", "succeeded")


def test_the_command_line_queues_jobs_and_a_worker_runs_them_until_idle(tmp_path, pg_url):
    config = tmp_path / "omnisync.toml"
    config.write_text(
        f'[store]\nurl = "{pg_url}"\n[worker]\nschedule = "0 0 1 1 *"\npoll_seconds = 0.1\n'
        '[locations.shelf]\n[channels.shop]\nadapter = "sim"\n'
    )
    runner = CliRunner()
    queued = runner.invoke(cli, ["--config", str(config), "enqueue", "--phase", "pull"])
    assert queued.exit_code == 0, queued.output
    assert "1 jobs queued" in queued.output
    again = runner.invoke(cli, ["--config", str(config), "enqueue", "--phase", "pull"])
    assert "0 jobs queued" in again.output
    ran = runner.invoke(cli, ["--config", str(config), "worker", "--until-idle"])
    assert ran.exit_code == 0, ran.output
    lite = tmp_path / "lite.toml"
    lite.write_text('[channels.shop]\nadapter = "sim"\n')
    refused = runner.invoke(cli, ["--config", str(lite), "worker"])
    assert refused.exit_code == 2
    assert "PostgreSQL" in refused.output
