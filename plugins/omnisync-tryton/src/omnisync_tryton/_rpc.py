"""Tryton's JSON-RPC: its value encoding, and a session that logs in again when it expires.

Facts from trytond 8.2 (trytond/protocols/jsonrpc.py, trytond/wsgi.py), checked against a
running server: calls are ``POST /<database>/rpc/`` with ``{"id", "method", "params"}``;
``common.db.login(login, {"password": ...}, language)`` answers ``[user_id, session, ...]``;
later calls carry ``Authorization: Session base64(login:user_id:session)``. A refused login or
an unknown session is HTTP 401; an application error is HTTP 200 with ``"error": [type,
args]``. Decimals, dates and datetimes travel as ``{"__class__": ..., ...}`` objects.
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from omnisync.errors import AuthError, InvalidPayloadError, PermanentError
from omnisync.http import ChannelHTTP

__all__ = ["TrytonRPC", "decode", "encode"]

# Methods that only read: safe to send again when an answer was lost. A record's on_change
# methods compute what the client would show and write nothing.
_READS = (
    "search",
    "search_read",
    "read",
    "search_count",
    "get_preferences",
    "fields_get",
    "default_get",
)


def encode(value: Any) -> Any:
    """``value`` with Decimals, dates and datetimes in Tryton's JSON forms."""
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        return {
            "__class__": "datetime",
            "year": moment.year,
            "month": moment.month,
            "day": moment.day,
            "hour": moment.hour,
            "minute": moment.minute,
            "second": moment.second,
            "microsecond": moment.microsecond,
        }
    if isinstance(value, date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    return value


def decode(value: Any) -> Any:
    """``value`` with Tryton's JSON forms turned back into Decimals, dates and datetimes
    (Tryton's datetimes are UTC without a zone: they come back aware, in UTC)."""
    if isinstance(value, list):
        return [decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    kind = value.get("__class__")
    if kind == "Decimal":
        return Decimal(value["decimal"])
    if kind == "datetime":
        return datetime(
            int(value["year"]),
            int(value["month"]),
            int(value["day"]),
            int(value.get("hour", 0)),
            int(value.get("minute", 0)),
            int(value.get("second", 0)),
            int(value.get("microsecond", 0)),
            tzinfo=UTC,
        )
    if kind == "date":
        return date(int(value["year"]), int(value["month"]), int(value["day"]))
    return {key: decode(item) for key, item in value.items()}


class TrytonRPC:
    """Calls on one Tryton database as one user, through the channel's `ChannelHTTP`.

    Logs in on first use and again, once, when the server no longer knows the session. Each
    call carries the user's context (company, language) merged with the caller's.
    """

    def __init__(
        self, http: ChannelHTTP, database: str, login: str, password: SecretStr, channel: str
    ) -> None:
        self.http = http
        self.database = database
        self.login = login
        self._password = password
        self.channel = channel
        self._session: SecretStr | None = None
        self._context: dict[str, Any] = {}
        self._logging_in = asyncio.Lock()

    def __repr__(self) -> str:
        return f"TrytonRPC({self.database!r}, login={self.login!r})"

    async def call(self, method: str, *params: Any, context: dict[str, Any] | None = None) -> Any:
        """Call ``method`` (``model.sale.sale.search_read``, say) with ``params`` and the
        user's context (and ``context``) as the last argument."""
        if self._session is None:
            await self._login(None)
        session = self._session
        try:
            return await self._send(method, params, context, session)
        except AuthError:
            # The session expired or the server restarted: one new login, then the call again.
            await self._login(session)
            return await self._send(method, params, context, self._session)

    async def _send(
        self,
        method: str,
        params: tuple[Any, ...],
        context: dict[str, Any] | None,
        session: SecretStr | None,
    ) -> Any:
        merged = {**self._context, **(context or {})}
        name = method.rsplit(".", 1)[-1]
        read = name in _READS or name.startswith("on_change")
        return await self._post(method, [*params, merged], session=session, idempotent=read)

    async def _login(self, expired: SecretStr | None) -> None:
        """Log in, unless another call has replaced the ``expired`` session meanwhile: calls
        sent together that all meet an expired session log in once, and none is sent
        without a session while the login is under way."""
        async with self._logging_in:
            if self._session is not expired:
                return
            await self._new_session()

    async def _new_session(self) -> None:
        secret = {"password": self._password.get_secret_value()}
        # A second login does no harm (the first session just goes unused): safe to resend.
        result = await self._post(
            "common.db.login", [self.login, secret, "en"], session=None, idempotent=True
        )
        if not isinstance(result, list) or len(result) < 2:
            raise InvalidPayloadError(
                "Tryton answered the login with no session", channel=self.channel
            )
        token = f"{self.login}:{result[0]}:{result[1]}"
        session = SecretStr(base64.b64encode(token.encode()).decode())
        preferences = await self._post(
            "model.res.user.get_preferences", [True, {}], session=session, idempotent=True
        )
        self._context = {
            key: preferences[key] for key in ("company", "language") if key in preferences
        }
        self._session = session

    async def _post(
        self,
        method: str,
        params: list[Any],
        *,
        session: SecretStr | None,
        idempotent: bool = False,
    ) -> Any:
        headers = {"Content-Type": "application/json"}
        if session is not None:
            headers["Authorization"] = "Session " + session.get_secret_value()
        body = json.dumps({"id": 1, "method": method, "params": encode(params)})
        answer = await self.http.request_json(
            "POST", f"/{self.database}/rpc/", content=body, headers=headers, idempotent=idempotent
        )
        if not isinstance(answer, dict):
            raise InvalidPayloadError(
                f"Tryton answered {method} with no object", channel=self.channel
            )
        if answer.get("error"):
            raise PermanentError(
                f"Tryton refused {method}: {_describe(answer['error'])}",
                channel=self.channel,
                hint="the message is Tryton's own; fix the data or Tryton's set-up it names",
            )
        return decode(answer.get("result"))


def _describe(error: Any) -> str:
    """Tryton's ``[type, args]`` error as one line (a UserError's message and description)."""
    if isinstance(error, list) and error:
        kind, detail = error[0], error[1] if len(error) > 1 else None
        if isinstance(detail, list):
            text = " ".join(str(part) for part in detail if isinstance(part, str) and part)
            return f"{kind}: {text}" if text else str(kind)
        return f"{kind}: {detail}" if detail else str(kind)
    return str(error)
