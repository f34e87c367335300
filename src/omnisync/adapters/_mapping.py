"""Mapping many channel payloads at once, quarantining the ones that do not map."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from pydantic import JsonValue, ValidationError

from omnisync.adapters._results import RejectedRecord
from omnisync.errors import InvalidPayloadError

__all__ = ["MAPPING_ERRORS", "map_records", "mapping_failure"]

T = TypeVar("T")

MAPPING_ERRORS: tuple[type[Exception], ...] = (
    InvalidPayloadError,
    ValidationError,
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    ArithmeticError,
)
"""What mapping a malformed payload raises: the record is bad, not the program."""


def mapping_failure(exc: Exception) -> str:
    """Why a payload could not be mapped, for an operator (field by field where known)."""
    if isinstance(exc, ValidationError):
        problems = [
            f"{'.'.join(str(p) for p in error['loc']) or 'payload'}: {error['msg']}"
            for error in exc.errors()
        ]
        return "; ".join(problems)
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    if isinstance(exc, ArithmeticError):
        return f"a number in it is not a number ({type(exc).__name__})"
    return str(exc)


def map_records(
    payloads: Iterable[JsonValue],
    mapper: Callable[[JsonValue], T],
    *,
    kind: str,
    key: Callable[[JsonValue], str],
) -> tuple[list[T], list[RejectedRecord]]:
    """Map each payload; one that fails becomes a `RejectedRecord` saying why, and the rest go on.

    ``key`` names a payload for the operator (the channel's id for it), even a malformed one.
    """
    mapped: list[T] = []
    rejected: list[RejectedRecord] = []
    for payload in payloads:
        try:
            mapped.append(mapper(payload))
        except MAPPING_ERRORS as exc:
            try:
                name = key(payload)
            except Exception:
                name = "unknown"
            rejected.append(
                RejectedRecord(kind=kind, key=name, reason=mapping_failure(exc), payload=payload)
            )
    return mapped, rejected
