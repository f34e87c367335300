"""The ``omnisync`` command.

Exit codes: 0 success; 1 a channel or record failed (partial failure); 2 bad configuration
or usage; 3 another sync holds the channels, so nothing was done.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn

from omnisync import plugins
from omnisync._api import AsyncOmnisync
from omnisync._heap import freeze_started
from omnisync._logging import configure_logging
from omnisync.cli import _render
from omnisync.cli._example import EXAMPLE_CONFIG
from omnisync.config import DEFAULT_CONFIG_NAME, load_config
from omnisync.engine import SyncReport
from omnisync.errors import ConfigError, OmnisyncError
from omnisync.models import OrderStatus

__all__ = ["EXIT_BUSY", "EXIT_CONFIG", "EXIT_OK", "EXIT_PARTIAL", "cli", "main"]

EXIT_OK, EXIT_PARTIAL, EXIT_CONFIG, EXIT_BUSY = 0, 1, 2, 3

T = TypeVar("T")
out = Console()
err = Console(stderr=True)


class State:
    """Options shared by every command; ``freeze``: the process is the ``omnisync`` command's
    own, so a long-running command (``sync``, ``worker``) freezes what starting it made once
    it has started (`freeze_started`)."""

    def __init__(self, config: str | None, *, freeze: bool = False) -> None:
        self.config_path = config
        self.freeze = freeze

    def client(self) -> AsyncOmnisync:
        return AsyncOmnisync(load_config(self.config_path))

    @asynccontextmanager
    async def started(self) -> AsyncIterator[AsyncOmnisync]:
        """The client, open; what starting it made is then frozen (`freeze_started`)."""
        async with self.client() as client:
            if self.freeze:
                freeze_started()
            yield client


def _run(state: State, work: Callable[[AsyncOmnisync], Awaitable[T]]) -> T:
    async def go() -> T:
        async with state.client() as client:
            return await work(client)

    return asyncio.run(go())


@contextmanager
def _errors() -> Iterator[None]:
    """Turn omnisync's errors into a one-line message and the documented exit code."""
    try:
        yield
    except ConfigError as exc:
        err.print(
            f"[red]configuration error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        sys.exit(EXIT_CONFIG)
    except OmnisyncError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_PARTIAL)


def _json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="omnisync")
@click.option(
    "--config",
    "-c",
    "config",
    envvar="OMNISYNC_CONFIG",
    metavar="PATH",
    help=f"Configuration file (default: ./{DEFAULT_CONFIG_NAME}, or $OMNISYNC_CONFIG).",
)
@click.option(
    "--log-level",
    default="WARNING",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="How much to log to stderr.",
)
@click.option("--log-json", is_flag=True, help="Log one JSON object per line.")
@click.pass_context
def cli(ctx: click.Context, config: str | None, log_level: str, log_json: bool) -> None:
    """Keep orders and stock in one truth across every channel and back office.

    Exit codes: 0 success, 1 partial failure, 2 bad configuration, 3 channels busy.
    """
    configure_logging(log_level, as_json=log_json)
    ctx.obj = State(config, freeze=ctx.obj is _OWN_PROCESS)


@cli.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path | None, force: bool) -> None:
    """Write a commented example configuration (default: ./omnisync.toml)."""
    target = path or Path(DEFAULT_CONFIG_NAME)
    if target.exists() and not force:
        err.print(f"{escape(str(target))} exists; pass --force to overwrite it")
        sys.exit(EXIT_CONFIG)
    target.write_text(EXAMPLE_CONFIG, encoding="utf-8")
    out.print(
        f"wrote {escape(str(target))}. Next: [bold]omnisync channels[/], then "
        "[bold]omnisync sync --once[/]"
    )


@cli.command(name="plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins_command(as_json: bool) -> None:
    """List installed plugins, their versions and the adapters they register."""
    with _errors():
        infos = plugins.installed_plugins()
        classes = plugins.adapter_classes()
    if as_json:
        _json([{"name": i.name, "version": i.version, "adapters": i.adapters} for i in infos])
        return
    for info in infos:
        out.print(f"[bold]{escape(info.name)}[/] {escape(info.version or '')}")
        for name in info.adapters:
            cls = classes[name]
            caps = ", ".join(sorted(c.value for c in cls.capabilities))
            out.print(f"  {escape(name)}: {escape(cls.description)}\n    can: {caps}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def channels(state: State, as_json: bool) -> None:
    """Check the configuration and show each channel's adapter and what it will do."""
    with _errors():
        loaded = load_config(state.config_path)
    if as_json:
        _json(
            [
                {
                    "channel": ch.name,
                    "adapter": ch.adapter_class.name,
                    "enabled": sorted(c.value for c in ch.enabled),
                    "locations": list(ch.locations),
                    "batch": ch.adapter_class.limits.stock_batch_size,
                }
                for ch in loaded.channels.values()
            ]
        )
        return
    for ch in loaded.channels.values():
        out.print(
            f"[bold]{escape(ch.name)}[/] ({escape(ch.adapter_class.name)}) sells from "
            f"{escape(', '.join(ch.locations))}\n"
            f"  does: {', '.join(sorted(c.value for c in ch.enabled))}"
        )


def _progress() -> tuple[Progress, Callable[[str, str, int], None]]:
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed} records"),
        console=err,
        transient=True,
    )
    tasks: dict[tuple[str, str], Any] = {}

    def advance(channel: str, stream: str, count: int) -> None:
        key = (channel, stream)
        if key not in tasks:
            tasks[key] = progress.add_task(escape(f"{channel}: pulling {stream}"), total=None)
        progress.update(tasks[key], advance=count)

    return progress, advance


def _exit_code(report: SyncReport) -> int:
    if report.channels and len(report.busy) == len(report.channels):
        return EXIT_BUSY
    return EXIT_OK if report.ok else EXIT_PARTIAL


def _show(report: SyncReport, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_dict(), default=str))
        return
    out.print(_render.report_table(report, f"Sync at {report.started_at:%H:%M:%S} UTC"))
    if report.incidents:
        out.print("[red]Oversold[/] (omnisync could not stop these; handle them):")
        out.print(_render.incident_table(report.incidents))
    if report.quarantined:
        out.print(f"{report.quarantined} record(s) quarantined: see `omnisync deadletters`")


@cli.command()
@click.option("--once", is_flag=True, help="Sync once and exit (for cron).")
@click.option(
    "--channel",
    "channel_names",
    multiple=True,
    metavar="NAME",
    help="Only this channel (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print each report as one JSON line.")
@click.option(
    "--wait",
    is_flag=True,
    help="If another sync holds a channel, wait for it instead of skipping it.",
)
@click.option("--interval", type=float, help="Seconds between syncs (default: the config's).")
@click.pass_obj
def sync(
    state: State,
    once: bool,
    channel_names: tuple[str, ...],
    as_json: bool,
    wait: bool,
    interval: float | None,
) -> None:
    """Pull counts and orders, push documents, fulfilments and stock; repeat unless --once."""
    with _errors():
        code = asyncio.run(_sync(state, list(channel_names), once, as_json, wait, interval))
    sys.exit(code)


async def _sync(
    state: State, names: list[str], once: bool, as_json: bool, wait: bool, interval: float | None
) -> int:
    async with state.started() as client:
        every = interval or client.config.config.engine.interval_seconds
        while True:
            started = time.monotonic()
            if as_json or not err.is_terminal:
                report = await client.sync(names or None, wait=wait)
            else:
                progress, advance = _progress()
                with progress:
                    report = await client.sync(names or None, wait=wait, progress=advance)
            _show(report, as_json)
            if once:
                return _exit_code(report)
            await asyncio.sleep(max(every - (time.monotonic() - started), 0))


@cli.command()
@click.argument("sku", required=False)
@click.option("--explain", is_flag=True, help="Show how each channel's quantity was derived.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def stock(state: State, sku: str | None, explain: bool, as_json: bool) -> None:
    """What each channel may sell, per SKU (one SKU with --explain: how it was derived)."""
    with _errors():
        if sku is not None:
            items = _run(state, lambda c: c.availability(sku))
            if as_json:
                _json({name: _availability_dict(item) for name, item in items.items()})
            elif explain:
                for item in items.values():
                    for line in _render.explain(item):
                        out.print(line, highlight=False)
            else:
                for name, item in items.items():
                    out.print(f"{escape(name)}: {item.quantity}")
            return
        table, cells = _run(state, _stock_view)
    on_hand = {s: sum(c.on_hand for c in per.values()) for s, per in cells.items()}
    held = {s: sum(c.held for c in per.values()) for s, per in cells.items()}
    if as_json:
        _json(
            {
                s: {"on_hand": on_hand.get(s), "held": held.get(s), "channels": per}
                for s, per in table.items()
            }
        )
        return
    out.print(_render.stock_table(table, on_hand, held))


async def _stock_view(client: AsyncOmnisync) -> tuple[Any, Any]:
    return await client.availability_table(), await client.stock_levels()


def _availability_dict(item: Any) -> dict[str, Any]:
    return {
        "quantity": item.quantity,
        "base": item.base,
        "components": dict(item.components),
        "cells": {
            sku: {loc: {"on_hand": c.on_hand, "held": c.held} for loc, c in per.items()}
            for sku, per in item.cells.items()
        },
        "steps": [{"rule": s.rule, "before": s.before, "after": s.after} for s in item.steps],
    }


@cli.command(name="set-stock")
@click.argument("sku")
@click.argument("quantity", type=int)
@click.option("--location", help="Which location (needed when there are several).")
@click.option("--force", is_flag=True, help="Also where an inventory source keeps the count.")
@click.pass_obj
def set_stock(state: State, sku: str, quantity: int, location: str | None, force: bool) -> None:
    """Count QUANTITY units of SKU on hand (the next sync pushes the change)."""
    with _errors():
        _run(state, lambda c: c.set_stock(sku, quantity, location, force=force))
    out.print(escape(f"{sku}: {quantity} on hand{f' at {location}' if location else ''}"))


@cli.command()
@click.option("--channel", help="Only this channel.")
@click.option(
    "--status", type=click.Choice([s.value for s in OrderStatus]), help="Only this status."
)
@click.option("--held", is_flag=True, help="Only orders on hold.")
@click.option("--limit", default=50, show_default=True, help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def orders(
    state: State, channel: str | None, status: str | None, held: bool, limit: int, as_json: bool
) -> None:
    """List imported orders, newest first."""
    wanted = OrderStatus(status) if status else None
    with _errors():
        found = _run(
            state,
            lambda c: c.orders(
                channel=channel, status=wanted, held=True if held else None, limit=limit
            ),
        )
    if as_json:
        _json(
            [
                {
                    **s.order.model_dump(mode="json", exclude={"raw"}),
                    "hold_reason": s.hold_reason,
                    "version": s.version,
                }
                for s in found
            ]
        )
        return
    out.print(_render.order_table(found))


@cli.command()
@click.argument("channel")
@click.argument("order_id")
@click.pass_obj
def release(state: State, channel: str, order_id: str) -> None:
    """Take an order off hold, so back offices receive it on the next sync."""
    with _errors():
        _run(state, lambda c: c.release_hold(channel, order_id))
    out.print(escape(f"{channel}:{order_id} released"))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def incidents(state: State, as_json: bool) -> None:
    """List oversell incidents, newest first."""
    with _errors():
        found = _run(state, lambda c: c.incidents())
    if as_json:
        _json([incident.__dict__ for incident in found])
        return
    out.print(_render.incident_table(found))


@cli.command()
@click.option("--retry", "retry", is_flag=True, help="Retry quarantined records.")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "show_all", is_flag=True, help="Include resolved records.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def deadletters(
    state: State, retry: bool, ids: tuple[int, ...], show_all: bool, as_json: bool
) -> None:
    """List quarantined records; with --retry, try them (or just IDS) again."""
    with _errors():
        if retry:
            outcomes = _run(state, lambda c: c.retry_dead_letters(list(ids) or None))
            for outcome in outcomes:
                mark = "[green]ok[/]" if outcome.ok else "[red]still failing[/]"
                out.print(
                    f"{outcome.dead_letter.id} {escape(outcome.dead_letter.kind)} "
                    f"{escape(outcome.dead_letter.key)}: {mark} {escape(outcome.message)}",
                    highlight=False,
                )
            if any(not outcome.ok for outcome in outcomes):
                sys.exit(EXIT_PARTIAL)
            return
        letters = _run(state, lambda c: c.dead_letters(include_resolved=show_all))
    if as_json:
        _json([letter.__dict__ for letter in letters])
        return
    if not letters:
        out.print("no quarantined records")
        return
    out.print(_render.dead_letter_table(letters))


@cli.command()
@click.argument("sku")
@click.option("--limit", default=30, show_default=True, help="The latest this many entries.")
@click.pass_obj
def ledger(state: State, sku: str, limit: int) -> None:
    """Show the stock ledger of SKU: every count, reservation, release and push."""
    with _errors():
        entries = _run(state, lambda c: c.ledger(sku, limit))
    for entry in entries:
        change = " ".join(
            part
            for part in (
                f"on hand {entry.on_hand_delta:+d}" if entry.on_hand_delta else "",
                f"held {entry.held_delta:+d}" if entry.held_delta else "",
                f"= {entry.value}" if entry.value is not None else "",
            )
            if part
        )
        where = entry.location or entry.channel or ""
        out.print(
            escape(
                f"{entry.at:%Y-%m-%d %H:%M:%S} {entry.kind:8} {where:12} {change:24} "
                f"{entry.order_ref or ''} {entry.note or ''}"
            ),
            highlight=False,
        )


@cli.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to keep the demo's files (default: a new temporary folder).",
)
def demo(directory: Path | None) -> None:
    """Run a whole story on simulated channels: orders, reservations, pushes, an oversell."""
    from omnisync._demo import run_demo

    with _errors():
        sys.exit(asyncio.run(run_demo(out, directory)))


@cli.command()
@click.argument("name")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True)
@click.option("--token", default="sim-token", show_default=True, help="Credential it accepts.")
@click.option("--webhook-secret", default="sim-webhook-secret", show_default=True)
@click.option(
    "--product", "products", multiple=True, metavar="SKU=QTY", help="A product; repeatable."
)
@click.option("--latency", type=float, default=0.0, help="Seconds added to each request.")
@click.option("--seed", type=int, default=0, help="Seed for its random choices.")
@click.option("--rate", type=float, help="Calls (or cost points) a second it lets through.")
def simulate(
    name: str,
    host: str,
    port: int,
    token: str,
    webhook_secret: str,
    products: tuple[str, ...],
    latency: float,
    seed: int,
    rate: float | None,
) -> None:
    """Serve the simulator NAME on a real port, for omnisync or any program to talk to.

    `omnisync plugins` shows the adapters; the built-in simulators are `sim` and
    `sim-inventory`, and adapter plugins add their own (e.g. `shopify`).
    """
    from omnisync.sim import SimulatorOptions, serve

    with _errors():
        factories = plugins.simulators()
    if name not in factories:
        raise click.BadParameter(
            f"no simulator {name!r}; installed: {', '.join(sorted(factories))}",
            param_hint="NAME",
        )
    stock: dict[str, int] = {}
    for spec in products:
        sku, _, quantity = spec.partition("=")
        if not quantity.isdigit():
            raise click.BadParameter(f"{spec!r} is not SKU=QTY", param_hint="--product")
        stock[sku] = int(quantity)
    options = SimulatorOptions(
        products=stock,
        token=token,
        webhook_secret=webhook_secret,
        latency=latency,
        seed=seed,
        rate=rate,
    )
    server = serve(factories[name](options), host, port)
    out.print(f"{name} simulator on http://{host}:{server.server_address[1]} (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.shutdown()


_OWN_PROCESS = object()
"""What `main` hands the commands: they run in a process of their own, not in a caller's."""


def main() -> None:
    """Entry point of the ``omnisync`` command."""
    cli(prog_name="omnisync", obj=_OWN_PROCESS)
