"""A throwaway PostgreSQL cluster for the tests, on loopback, from the Debian packages.

``OMNISYNC_TEST_POSTGRES`` (a ``postgresql://`` URL of a server the tests may create
databases on) skips starting one. Without either, the PostgreSQL tests are skipped, except
where ``OMNISYNC_REQUIRE_POSTGRES`` is set (`.ci/run` sets it), where they fail.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

__all__ = ["Cluster", "cluster"]


class Cluster:
    """A PostgreSQL server the tests own: fresh databases on demand, restarts on demand."""

    def __init__(self, url: str, *, data: Path | None = None, bin_dir: Path | None = None) -> None:
        self.url = make_url(url)
        self.data = data
        self.bin_dir = bin_dir
        self._names = itertools.count(1)
        self.database = "omnisync_tests"

    def prepare(self) -> None:
        """Create the tests' database, unless it exists."""
        with self._admin("postgres") as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def new_store(self) -> str:
        """The ``postgresql+psycopg://`` URL of a new, empty place for a store: a schema of
        its own in the tests' database (a schema takes milliseconds; a database, a quarter of
        a second)."""
        name = f"omnisync_test_{os.getpid()}_{next(self._names)}"
        with self._admin(self.database) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        url = self.url.set(
            drivername="postgresql+psycopg",
            database=self.database,
            query={"options": f"-csearch_path={name}"},
        )
        return url.render_as_string(hide_password=False)

    def drop_store(self, url: str) -> None:
        options = make_url(url).query["options"]
        assert isinstance(options, str), options  # new_store wrote one value
        name = options.removeprefix("-csearch_path=")
        with self._admin(self.database) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

    def restart(self) -> None:
        """Stop the server (cutting every connection, as an operator's restart does) and
        start it again. ("fast", not "immediate": with synchronous_commit off, a crash
        would lose the last commits, which a real server with its defaults keeps.)"""
        assert self.data is not None, "only a cluster the tests started can be restarted"
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        if self.data is not None:
            self._ctl("stop", "-m", "immediate")
            shutil.rmtree(self.data.parent, ignore_errors=True)

    @contextlib.contextmanager
    def _admin(self, database: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        conninfo = self.url.set(drivername="postgresql", database=database)
        with psycopg.connect(conninfo.render_as_string(hide_password=False)) as conn:
            conn.autocommit = True
            yield conn

    def _ctl(self, *args: str) -> None:
        assert self.bin_dir is not None and self.data is not None
        port = str(self.url.port)
        options = (
            f"-p {port} -k {self.data.parent} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off -c max_connections=200"
        )
        command = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-w", "-o", options]
        command += ["-l", str(self.data.parent / "server.log"), *args]
        subprocess.run(_as_postgres(command), check=True, capture_output=True)


def _bin_dir() -> Path | None:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    found = [p for p in versions if (p / "initdb").exists()]
    return found[-1] if found else None


def _as_postgres(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root: as root, run them as the postgres user.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cluster() -> Cluster | None:
    """The cluster to test against: the one ``OMNISYNC_TEST_POSTGRES`` names, or a new one
    started here; ``None`` if there is no PostgreSQL on this machine."""
    given = os.environ.get("OMNISYNC_TEST_POSTGRES")
    if given:
        found = Cluster(given)
        found.prepare()
        return found
    bin_dir = _bin_dir()
    if bin_dir is None:
        return None
    base = Path(tempfile.mkdtemp(prefix="omnisync-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
    subprocess.run(
        _as_postgres([*initdb, "-E", "UTF8", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    started = Cluster(
        f"postgresql://postgres@127.0.0.1:{_free_port()}/postgres", data=data, bin_dir=bin_dir
    )
    started._ctl("start")
    started.prepare()
    return started
