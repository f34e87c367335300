"""Run the benchmarks: ``python3 dev.py bench [options]`` (or ``python -m bench``).

Prints one table (each figure beside its limit, their ratio and the goal) and writes the
same figures as JSON. ``--small`` runs every scenario at its small size; ``--guard FILE``
compares the guarded ratios with a baseline written by ``--write-baseline FILE`` and fails
when one got more than twice as bad, in each of up to three runs of its scenario.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import catalogue, fanout, ingest, push, workers
from bench._harness import ProfilingError, ScenarioResult, profile_into

SCENARIOS: dict[str, Any] = {
    "ingest": ingest,
    "push": push,
    "fanout": fanout,
    "catalogue": catalogue,
    "workers": workers,
}
GUARD_FACTOR = 2.0
# A busy machine slows one run; a regression slows every run. A scenario whose guarded ratio
# is over the line runs again, up to this many runs in all, and its best ratio counts.
GUARD_RUNS = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 dev.py bench", description=__doc__)
    parser.add_argument(
        "scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: all)"
    )
    parser.add_argument("--small", action="store_true", help="the small sizes (CI's guard)")
    parser.add_argument(
        "--size",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a size, e.g. --size orders=5000 (repeatable)",
    )
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--guard", type=Path, metavar="BASELINE")
    parser.add_argument("--write-baseline", type=Path, metavar="BASELINE")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FOLDER",
        help="record a flame graph (py-spy, every thread) of each process the scenarios "
        "measure in, into FOLDER",
    )
    args = parser.parse_args(argv)
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"no scenario {', '.join(sorted(unknown))}; there are {', '.join(SCENARIOS)}")
    if args.profile is not None:
        try:
            profile_into(args.profile)
        except ProfilingError as exc:
            parser.error(str(exc))
    console = Console()
    overrides = dict(_size(item) for item in args.size)
    sizes: dict[str, dict[str, Any]] = {}
    for name in args.scenarios or list(SCENARIOS):
        module = SCENARIOS[name]
        sizes[name] = {**(module.SMALL if args.small else module.DEFAULTS)}
    # A misspelt size would otherwise run the default and be reported as if it were changed.
    known = {size for scenario in sizes.values() for size in scenario}
    if strange := sorted(set(overrides) - known):
        parser.error(
            f"no size {', '.join(strange)} in {', '.join(sizes)}; "
            f"the sizes are {', '.join(sorted(known))}"
        )
    for scenario in sizes.values():
        for size, value in overrides.items():
            if size in scenario:
                scenario[size] = _converted(parser, size, value, scenario[size])

    def run(name: str) -> ScenarioResult:
        with console.status(f"running {name} {sizes[name]} ..."):
            try:
                result: ScenarioResult = SCENARIOS[name].run(**sizes[name])
            except ProfilingError as exc:  # no graph, and the run would not be the one asked
                raise SystemExit(f"{name}: {exc}") from None
        return result

    results = [run(name) for name in sizes]
    console.print(_table(results))
    for result in results:
        for note in result.notes:
            console.print(f"[dim]{result.scenario}: {note}[/]")
    document = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "scenarios": [result.as_json() for result in results],
    }
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    console.print(f"figures written to {args.json}")
    if args.write_baseline:
        args.write_baseline.write_text(json.dumps(_ratios(results), indent=2) + "\n")
        console.print(f"baseline written to {args.write_baseline}")
    if args.guard:
        baseline = json.loads(args.guard.read_text())
        ratios = _ratios(results)
        scenario_of = {
            key: name
            for name, result in zip(sizes, results, strict=True)
            for key in _ratios([result])
        }
        for attempt in range(2, GUARD_RUNS + 1):
            worse = _worse(ratios, baseline)
            if not worse:
                break
            again = sorted({scenario_of[key] for key in worse})
            console.print(
                f"guard: {', '.join(worse)} over {GUARD_FACTOR:g}× the baseline; running "
                f"{', '.join(again)} again (run {attempt} of {GUARD_RUNS}), as a busy machine "
                "can slow one run; the best ratio of the runs counts"
            )
            for name in again:
                for key, ratio in _ratios([run(name)]).items():
                    console.print(f"guard: {key}: {ratio:.2f}× in run {attempt}")
                    ratios[key] = min(ratios.get(key, ratio), ratio)
        return _check(console, ratios, baseline)
    return 0


def _size(item: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep:
        raise SystemExit(f"--size takes NAME=VALUE, not {item!r}")
    return name, value


def _converted(parser: argparse.ArgumentParser, size: str, value: str, default: Any) -> Any:
    """``value`` as the type of the size's default (``orders=5000`` an int)."""
    try:
        return type(default)(value)
    except ValueError:
        parser.error(
            f"--size {size}={value}: {size} takes {type(default).__name__} values, "
            f"e.g. {size}={default}"
        )


def _table(results: list[ScenarioResult]) -> Table:
    table = Table(title="omnisync benchmarks", title_justify="left")
    for column in ("figure (vs its limit)", "omnisync", "limit", "ratio", "goal"):
        table.add_column(column, justify="left" if column.startswith("figure") else "right")
    for result in results:
        table.add_section()
        table.add_row(f"[bold]{result.title}[/]")
        table.add_row(f"[dim]{_sizes(result.sizes)}[/]")
        for figure in result.figures:
            ratio, met = figure.ratio, figure.met
            mark = {True: "[green]", False: "[red]", None: ""}[met]
            against = f" [dim]vs {figure.limit_name}[/]" if figure.limit_name else ""
            table.add_row(
                f"  {figure.name}{against}",
                f"{_number(figure.value)} {figure.unit}",
                f"{_number(figure.limit)} {figure.unit}" if figure.limit is not None else "",
                f"{mark}{ratio:.2f}×" if ratio is not None else "",
                f"≤ {figure.goal}×" if figure.goal is not None else "",
            )
    return table


def _sizes(sizes: dict[str, Any]) -> str:
    return ", ".join(f"{name} {value:,}" for name, value in sizes.items())


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _ratios(results: list[ScenarioResult]) -> dict[str, float]:
    return {
        f"{result.scenario}: {figure.name}": ratio
        for result in results
        for figure in result.figures
        if figure.guard and (ratio := figure.ratio) is not None
    }


def _worse(ratios: dict[str, float], baseline: dict[str, float]) -> list[str]:
    """The guarded figures whose ratio is more than GUARD_FACTOR times their baseline."""
    return [
        name
        for name, ratio in ratios.items()
        if name in baseline and ratio > baseline[name] * GUARD_FACTOR
    ]


def _check(console: Console, ratios: dict[str, float], baseline: dict[str, float]) -> int:
    """Fail when a guarded ratio is more than GUARD_FACTOR times its baseline."""
    worse = _worse(ratios, baseline)
    for name, ratio in ratios.items():
        base = baseline.get(name)
        if base is None:
            console.print(f"[yellow]guard: no baseline for {name!r} ({ratio:.2f}×)[/]")
            continue
        verdict = "WORSE" if name in worse else "ok"
        console.print(f"guard: {name}: {ratio:.2f}× (baseline {base:.2f}×) {verdict}")
    if worse:
        console.print(
            f"[red]guard: {', '.join(worse)} got more than {GUARD_FACTOR:g}× worse than "
            "the committed baseline; profile it (--profile, see README, Benchmarks) or, if "
            "the change is intended, rewrite the baseline with --write-baseline[/]"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
