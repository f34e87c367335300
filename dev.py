#!/usr/bin/env python3
"""Development commands that need nothing but Python 3.11+ and pip.

    python3 dev.py demo     run the demo sync on simulated channels (SQLite)
    python3 dev.py test     run the whole test suite (installs PostgreSQL for the store
                            tests when it is missing and apt-get can)
    python3 dev.py lint     ruff and mypy --strict
    python3 dev.py bench    run the benchmarks (bench/; --help for options)
    python3 dev.py shell    print the command that activates the environment

Each creates ./.venv on first use and installs omnisync, every adapter under plugins/, and
the test tools into it; it reinstalls only when a pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".omnisync-installed"


def _projects() -> list[Path]:
    plugins = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
    return [ROOT, *plugins]


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for project in _projects():
        digest.update((project / "pyproject.toml").read_bytes())
    return digest.hexdigest()


def ensure_environment() -> None:
    """Create .venv and install everything into it, unless it is already up to date."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs under whatever python3 is
        sys.exit(f"omnisync needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = _fingerprint()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    print("installing omnisync, its plugins and test tools into .venv ...", flush=True)
    targets = [f"{ROOT}[dev]"] + [str(p) for p in _projects()[1:]]
    editable = [arg for target in targets for arg in ("-e", target)]
    subprocess.run([str(BIN / "python"), "-m", "pip", "install", "--quiet", *editable], check=True)
    STAMP.write_text(wanted)


def ensure_postgres() -> None:
    """Install PostgreSQL from the Debian packages if it is missing, so the store tests run
    on it too; the tests start a throwaway server of their own. Where it cannot be installed
    (no apt-get, no root), those tests are skipped, or fail under OMNISYNC_REQUIRE_POSTGRES."""
    if os.environ.get("OMNISYNC_TEST_POSTGRES") or list(
        Path("/usr/lib/postgresql").glob("*/bin/initdb")
    ):
        return
    apt = shutil.which("apt-get")
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    sudo = [] if root else ["sudo", "-n"] if shutil.which("sudo") else None
    if apt is None or sudo is None:
        print("PostgreSQL is not installed and cannot be installed here: its tests skip")
        return
    print("installing PostgreSQL (Debian packages) for the store tests ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["update", "-qq"], ["install", "-y", "-q", "postgresql"]):
        subprocess.run([*sudo, apt, *step], check=False, stdout=subprocess.DEVNULL, env=env)


def run(*command: str) -> int:
    """Run a tool from .venv/bin in the project folder; returns its exit code."""
    tool, *args = command
    return subprocess.run([str(BIN / tool), *args], cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in ("demo", "test", "lint", "shell", "bench"):
        print(f"unknown command {name!r}\n{__doc__}", file=sys.stderr)
        return 2
    ensure_environment()
    if name == "demo":
        return run("omnisync", "demo", *rest)
    if name == "test":
        ensure_postgres()
        return run("python", "-m", "pytest", *rest)
    if name == "bench":
        return run("python", "-m", "bench", *rest)
    if name == "shell":
        print(f"source {BIN / 'activate'}")
        return 0
    paths = [p for p in ("src", "plugins", "tests", "bench", "dev.py") if (ROOT / p).exists()]
    return run("ruff", "check", *paths) or run("ruff", "format", "--check", *paths) or run("mypy")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
