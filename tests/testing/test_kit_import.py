"""Importing the contract kit where pytest is not installed."""

from __future__ import annotations

import subprocess
import sys

_WITHOUT_PYTEST = """
import sys
sys.modules["pytest"] = None  # as if it were not installed
try:
    import omnisync.testing
except ModuleNotFoundError as exc:
    print(exc)
"""


def test_without_pytest_the_kit_says_how_to_install_it() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_PYTEST], capture_output=True, text=True, check=True
    )
    assert "needs pytest: pip install 'omnisync[test]'" in done.stdout
