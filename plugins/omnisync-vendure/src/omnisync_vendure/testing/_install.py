"""Installing Vendure into a cache folder and building the populated database it starts from.

The folder is keyed by the committed ``package-lock.json`` (and Node's major version: the
SQLite driver is a native module built for one Node ABI), so a new lockfile gets a new folder
and an old one is never half-upgraded. Installing runs ``npm ci`` (the only network use: the
npm registry); everything after that is local. Both steps happen under a file lock, so test
processes started together install once.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CACHE_ENV",
    "NODE_ASSETS",
    "REQUIRE_ENV",
    "VendureInstall",
    "VendureUnavailable",
    "installed_or_skip",
]

log = logging.getLogger("omnisync.vendure.testing")

CACHE_ENV = "OMNISYNC_VENDURE_CACHE"
"""Environment variable naming the cache folder (default ``~/.cache/omnisync/vendure-<key>``)."""

REQUIRE_ENV = "OMNISYNC_REQUIRE_REAL_SERVERS"  # omnisync.testing.REQUIRE_REAL_SERVERS
"""Set (CI sets it), a test that cannot run Vendure fails instead of skipping."""

NODE_ASSETS = Path(__file__).parent / "node"
"""The committed ``package.json``, ``package-lock.json`` and the server's scripts."""

_INSTALL_SECONDS = 900
_POPULATE_SECONDS = 300
# What the template database is built from: a change to either builds it again.
_TEMPLATE_INPUTS = ("populate.js", "vendure-config.js")


class VendureUnavailable(RuntimeError):
    """Vendure cannot run here (no Node or npm, or the install failed); the message says why."""


def _digest(*paths: Path) -> str:
    hasher = hashlib.sha256()
    for path in paths:
        hasher.update(path.read_bytes())
    return hasher.hexdigest()[:16]


def _node_major() -> str:
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        raise VendureUnavailable("Node.js and npm are needed to run Vendure; neither is on PATH")
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    return version.lstrip("v").split(".")[0]


def node_environment(install: VendureInstall, **extra: str) -> dict[str, str]:
    """The environment Vendure's scripts run in: its modules, and telemetry off."""
    return {
        **os.environ,
        "NODE_PATH": str(install.node_modules),
        "VENDURE_DISABLE_TELEMETRY": "true",
        **extra,
    }


@dataclass
class VendureInstall:
    """A cache folder holding Vendure's ``node_modules`` and a populated template database.

    `ensure` installs and populates what is missing and records how long each step took in
    ``timings`` (seconds; absent for steps the cache already had).
    """

    root: Path
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def default(cls) -> VendureInstall:
        """The folder ``$OMNISYNC_VENDURE_CACHE`` names, else one under ``~/.cache/omnisync``."""
        configured = os.environ.get(CACHE_ENV)
        if configured:
            return cls(Path(configured).expanduser())
        key = f"{_digest(NODE_ASSETS / 'package-lock.json')}-node{_node_major()}"
        return cls(Path.home() / ".cache" / "omnisync" / f"vendure-{key}")

    @property
    def app(self) -> Path:
        """Where ``npm ci`` runs: a copy of the committed manifest and lockfile."""
        return self.root / "app"

    @property
    def node_modules(self) -> Path:
        """The installed packages."""
        return self.app / "node_modules"

    @property
    def template(self) -> Path:
        """The populated database every fresh server copies."""
        return self.root / f"template-{_digest(*(NODE_ASSETS / n for n in _TEMPLATE_INPUTS))}.db"

    def ensure(self) -> VendureInstall:
        """Install Vendure and build the template database, unless the cache has them."""
        _node_major()
        self.root.mkdir(parents=True, exist_ok=True)
        with self._locked():
            if not (self.root / "installed").exists():
                self._install()
            if not self.template.exists():
                self._populate()
        return self

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.root / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _install(self) -> None:
        log.warning("installing Vendure into %s (npm ci; about 100 s, once)", self.app)
        shutil.rmtree(self.app, ignore_errors=True)  # what an interrupted install left
        self.app.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(NODE_ASSETS / name, self.app / name)
        started = time.monotonic()
        self._run(
            ["npm", "ci", "--no-audit", "--no-fund"], "install.log", _INSTALL_SECONDS, cwd=self.app
        )
        self.timings["install"] = time.monotonic() - started
        (self.root / "installed").write_text(_digest(NODE_ASSETS / "package-lock.json"))

    def _populate(self) -> None:
        log.warning("building Vendure's template database %s (once)", self.template)
        building = self.template.with_suffix(".building")
        building.unlink(missing_ok=True)
        data = self.node_modules / "@vendure" / "create" / "assets" / "initial-data.json"
        started = time.monotonic()
        self._run(
            ["node", str(NODE_ASSETS / "populate.js")],
            "populate.log",
            _POPULATE_SECONDS,
            cwd=self.root,
            env=node_environment(self, VENDURE_DB=str(building), VENDURE_INITIAL_DATA=str(data)),
        )
        self.timings["populate"] = time.monotonic() - started
        os.replace(building, self.template)

    def _run(
        self,
        command: list[str],
        log_name: str,
        timeout: float,
        *,
        cwd: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        log_path = self.root / log_name
        with log_path.open("w") as output:
            try:
                done = subprocess.run(
                    command,
                    cwd=cwd,
                    env=env,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise VendureUnavailable(
                    f"{' '.join(command)} took more than {timeout:.0f} s; see {log_path}"
                ) from None
        if done.returncode != 0:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise VendureUnavailable(
                f"{' '.join(command)} failed (exit {done.returncode}); see {log_path}:\n{tail}"
            )


def installed_or_skip(install: VendureInstall | None = None) -> VendureInstall:
    """For pytest fixtures: Vendure installed (the first time, about two minutes), or the
    test skipped saying why; failed instead when ``$OMNISYNC_REQUIRE_REAL_SERVERS`` is set."""
    from omnisync.testing import server_unavailable  # only tests call this (it needs pytest)

    try:
        return (install or VendureInstall.default()).ensure()
    except VendureUnavailable as exc:
        server_unavailable("Vendure", exc)
