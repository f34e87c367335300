"""Logging with context: every line knows its channel, order and SKU, and holds no secret."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from omnisync._redact import secrets

__all__ = ["configure_logging", "log_context"]

_FIELDS = ("channel", "order", "sku")
_context: ContextVar[dict[str, str] | None] = ContextVar("omnisync_log_context", default=None)


@contextmanager
def log_context(**values: str | None) -> Iterator[None]:
    """Attach ``channel``, ``order`` or ``sku`` to every log line inside the block."""
    merged = {**(_context.get() or {}), **{k: v for k, v in values.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


class _ContextFilter(logging.Filter):
    """Adds the current context to each record and scrubs known secrets from its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_context.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        message = record.getMessage()
        scrubbed = secrets.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


class _TextFormatter(logging.Formatter):
    def formatException(self, ei: Any) -> str:
        return secrets.scrub(super().formatException(ei))

    def format(self, record: logging.LogRecord) -> str:
        context = " ".join(
            f"{name}={getattr(record, name)}" for name in _FIELDS if hasattr(record, name)
        )
        line = super().format(record)
        return f"{line} [{context}]" if context else line


class _JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({name: getattr(record, name) for name in _FIELDS if hasattr(record, name)})
        if record.exc_info:
            entry["error"] = secrets.scrub(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure_logging(level: str = "WARNING", *, as_json: bool = False) -> None:
    """Send omnisync's logs to stderr, as text or one JSON object per line."""
    handler = logging.StreamHandler()
    handler.addFilter(_ContextFilter())
    handler.setFormatter(
        _JSONFormatter() if as_json else _TextFormatter("%(asctime)s %(levelname)s %(message)s")
    )
    root = logging.getLogger("omnisync")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
