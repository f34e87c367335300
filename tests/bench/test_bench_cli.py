"""The benchmark command's arguments: a size it does not know is refused before any run."""

from __future__ import annotations

import pytest
from bench.__main__ import main


def _refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as stopped:
        main(list(argv))
    assert stopped.value.code == 2
    return capsys.readouterr().err


def test_a_misspelt_size_is_refused_with_the_sizes_there_are(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = _refused(capsys, "ingest", "--size", "order=5000")
    assert "no size order in ingest" in error
    assert "the sizes are latency, orders, skus" in error


def test_a_size_of_another_scenario_than_those_run_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert "no size rate in ingest" in _refused(capsys, "ingest", "--size", "rate=3")


def test_a_size_that_is_not_a_number_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    error = _refused(capsys, "ingest", "--size", "orders=many")
    assert "orders takes int values, e.g. orders=20000" in error
