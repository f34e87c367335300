import pytest


@pytest.fixture(autouse=True)
def _on_every_backend(backend: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return backend
