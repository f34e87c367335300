"""``--profile``: each process a scenario measures in is recorded by py-spy, which here is a
stand-in that writes down the process it was pointed at once that process has ended."""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path

import pytest
from bench.__main__ import main
from bench._harness import ProfilingError, isolated, profile_into

RECORDS = """
import os, sys, time
from pathlib import Path
arguments = sys.argv[1:]
pid = int(arguments[arguments.index("--pid") + 1])
print("py-spy> Sampling process 250 times a second.", flush=True)
while True:  # as py-spy: until the process is gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        break
    time.sleep(0.01)
Path(arguments[arguments.index("--output") + 1]).write_text(f"recorded {pid}")
"""

SILENT = """
import time
time.sleep(60)
"""

FAILS = """
import sys
print("Error: Permission denied (os error 13)", file=sys.stderr)
sys.exit(1)
"""


@pytest.fixture(autouse=True)
def _not_profiling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bench._harness._profiling", None)


def _program(folder: Path, body: str) -> str:
    program = folder / "py-spy"
    program.write_text(f"#!{sys.executable}\n{body}")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return str(program)


def test_each_measured_process_is_recorded_into_a_graph_of_its_own(tmp_path: Path) -> None:
    profile_into(tmp_path / "graphs", _program(tmp_path, RECORDS))
    results = [isolated(dict, {"run": run}) for run in (1, 2)]
    assert [result["run"] for result in results] == [1, 2]
    graphs = sorted((tmp_path / "graphs").iterdir())
    assert [graph.name for graph in graphs] == ["builtins.dict-1.svg", "builtins.dict-2.svg"]
    pids = {graph.read_text() for graph in graphs}
    assert len(pids) == 2  # two processes, neither of them this one
    assert f"recorded {os.getpid()}" not in pids


def test_a_process_py_spy_cannot_record_says_why(tmp_path: Path) -> None:
    profile_into(tmp_path / "graphs", _program(tmp_path, FAILS))
    with pytest.raises(ProfilingError, match=r"could not record process \d+: Error: Permission"):
        isolated(dict, {})


def test_a_py_spy_that_never_starts_sampling_is_stopped_and_said_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bench._harness._START_SECONDS", 0.5)
    profile_into(tmp_path / "graphs", _program(tmp_path, SILENT))
    with pytest.raises(ProfilingError, match=r"it did not start sampling within 0\.5 s"):
        isolated(dict, {})


def test_profiling_without_py_spy_is_refused_before_any_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SystemExit) as stopped:
        main(["ingest", "--profile", str(tmp_path / "graphs")])
    assert stopped.value.code == 2
    assert "profiling needs py-spy, which is not installed" in capsys.readouterr().err
    assert not (tmp_path / "graphs").exists()
