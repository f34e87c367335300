"""``omnisync worker`` and ``omnisync enqueue``: sync work shared through PostgreSQL."""

from __future__ import annotations

import asyncio

import click

from omnisync.cli._main import State, _errors, cli, out
from omnisync.worker import PHASES, Workers


@cli.command()
@click.option(
    "--until-idle", is_flag=True, help="Stop once no job is waiting (default: run until stopped)."
)
@click.option("--name", metavar="NAME", help="This worker's name in logs (default: host:pid).")
@click.pass_obj
def worker(state: State, until_idle: bool, name: str | None) -> None:
    """Run sync jobs from the PostgreSQL store's queue, with any number of other workers.

    Every worker also runs the periodic tick of [worker] schedule, which queues a sync of
    every channel and requeues the jobs of workers that died. SIGTERM or Ctrl-C let the
    running jobs finish. Needs pip install 'omnisync[postgres]' and a postgresql:// store.
    """
    with _errors():
        asyncio.run(_work(state, until_idle, name))


async def _work(state: State, until_idle: bool, name: str | None) -> None:
    async with state.started() as client, Workers(client) as workers:
        if until_idle:
            await workers.enqueue()
        await workers.run(wait=not until_idle, name=name)


@cli.command()
@click.option(
    "--channel", "channel_names", multiple=True, metavar="NAME", help="Only this channel."
)
@click.option(
    "--phase",
    "phases",
    multiple=True,
    type=click.Choice(list(PHASES)),
    help="Only this kind of job (default: all).",
)
@click.pass_obj
def enqueue(state: State, channel_names: tuple[str, ...], phases: tuple[str, ...]) -> None:
    """Queue sync jobs for the workers (a job already waiting is not queued twice)."""
    with _errors():
        ids = asyncio.run(_enqueue(state, list(channel_names), phases or tuple(PHASES)))
    out.print(f"{len(ids)} jobs queued")


async def _enqueue(state: State, names: list[str], phases: tuple[str, ...]) -> list[int]:
    async with state.client() as client, Workers(client) as workers:
        return await workers.enqueue(names or None, phases)
