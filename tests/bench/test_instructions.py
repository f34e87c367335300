"""``python -m bench.instructions``: the import it counts, and how it reads Valgrind's count
(here from a stand-in that runs the command it was given and reports a made-up count)."""

from __future__ import annotations

import gc
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench._harness import served
from bench.ingest import _bare_client
from bench.instructions import WORKS, InstructionsError, counted, first_orders, run

COUNTS = """
import subprocess, sys
command = [argument for argument in sys.argv[1:] if not argument.startswith("--") or
           argument == "--run"]
done = subprocess.run(command, capture_output=True, text=True)
imported = int(done.stdout.split()[-1]) if done.returncode == 0 else 0
print(f"==1== I   refs:      {1_000_000 + imported:,}", file=sys.stderr)
sys.exit(done.returncode)
"""

FAILS = """
import sys
print("valgrind: failed to start tool 'cachegrind'", file=sys.stderr)
sys.exit(1)
"""


def _program(folder: Path, body: str) -> str:
    program = folder / "valgrind"
    program.write_text(f"#!{sys.executable}\n{body}")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return str(program)


@pytest.fixture(autouse=True)
def _collector_as_it_was() -> Iterator[None]:
    """The counted works freeze the heap and move the collector's threshold, as a sync's
    process does; the test process gets both back."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bulk export of 30 orders from the Shopify simulator."""
    path = tmp_path_factory.mktemp("export") / "export.jsonl"
    with served("bench._shops:shopify", 0.0, skus=500, orders=30) as shop:
        shop.set("storage_url", f"http://localhost:{shop.port}")
        _bare_client(shop.url, str(path))
    return path


def test_the_first_orders_of_an_export_keep_their_items(export: Path) -> None:
    lines = first_orders(export.read_bytes(), 5).splitlines()
    orders = [line for line in lines if b'"__parentId"' not in line]
    assert len(orders) == 5
    assert len(lines) > 5  # their line items came with them
    assert lines[-1] == export.read_bytes().splitlines()[len(lines) - 1]


@pytest.mark.parametrize("work", WORKS)
def test_each_counted_work_takes_the_first_orders_of_the_export(export: Path, work: str) -> None:
    assert run(work, export, 12) == 12


def test_the_count_is_read_from_valgrind_and_a_failure_says_why(
    export: Path, tmp_path: Path
) -> None:
    assert counted(_program(tmp_path, COUNTS), export, 7, "mapped") == 1_000_007
    with pytest.raises(
        InstructionsError, match=r"(?s)did not count omnisync.*failed to start tool"
    ):
        counted(_program(tmp_path, FAILS), export, 7)
