from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from omnisync import sim
from omnisync.store import SQLStore
from tests import postgres
from tests.helpers import stores


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _fresh_simulators() -> Iterator[None]:
    """In-process simulators live per process; each test starts without any."""
    sim.clear_registry()
    yield
    sim.clear_registry()


@pytest.fixture(scope="session")
def pg() -> Iterator[postgres.Cluster]:
    """A PostgreSQL server for the session (see `tests.postgres`)."""
    cluster = postgres.cluster()
    if cluster is None:
        message = "PostgreSQL is not installed here (apt-get install postgresql)"
        if os.environ.get("OMNISYNC_REQUIRE_POSTGRES"):
            pytest.fail(message)
        pytest.skip(message)
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg: postgres.Cluster) -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL store, dropped after the test."""
    url = pg.new_store()
    yield url
    pg.drop_store(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Run the test once per store backend: the stores `tests.helpers` builds go to SQLite
    files, then to fresh PostgreSQL schemas (see `on_postgres`)."""
    if request.param == "postgresql":
        request.getfixturevalue("on_postgres")
    return str(request.param)


@pytest.fixture
def on_postgres(pg: postgres.Cluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The stores `tests.helpers` builds go to fresh PostgreSQL schemas, dropped after the
    test. Stores a test leaves open are closed after it (a pooled PostgreSQL connection
    left to the garbage collector warns)."""
    cluster = pg
    made: list[str] = []
    opened: list[SQLStore] = []
    original = SQLStore.__init__

    def remember(self: SQLStore, *args: Any, **kwargs: Any) -> None:
        opened.append(self)
        original(self, *args, **kwargs)

    def new_database() -> str:
        made.append(cluster.new_store())
        return made[-1]

    monkeypatch.setattr(SQLStore, "__init__", remember)
    with stores.on(new_database):
        yield
    for store in opened:
        store.close()
    for url in made:
        cluster.drop_store(url)


pytest_plugins = ["pytester"]
