"""A small blocking GraphQL client for setting a test Vendure up (not the adapter's client)."""

from __future__ import annotations

from typing import Any

import httpx

from omnisync.http import json_loads

__all__ = ["GraphQLClient", "VendureAPIError"]


class VendureAPIError(RuntimeError):
    """Vendure answered a set-up call with GraphQL errors or an ErrorResult."""


class GraphQLClient:
    """Posts GraphQL documents to one Vendure API (``/admin-api`` or ``/shop-api``).

    It keeps the session token Vendure returns in the ``vendure-auth-token`` header and sends
    it back as a bearer token: the Shop API's active order and the Admin API's login both live
    in that session (``token`` starts it in an existing one). ``channel_token`` selects a
    Vendure channel (``vendure-token`` header).
    """

    def __init__(
        self,
        url: str,
        *,
        channel_token: str | None = None,
        token: str | None = None,
        timeout: float = 30,
    ) -> None:
        self.url = url
        self._token = token
        headers = {"vendure-token": channel_token} if channel_token else {}
        self._http = httpx.Client(timeout=timeout, headers=headers)

    def __repr__(self) -> str:
        return f"<GraphQLClient {self.url}>"

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def post(self, document: str, **variables: Any) -> httpx.Response:
        """Send ``document`` in the session; the answer as it came (errors included)."""
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        response = self._http.post(
            self.url, json={"query": document, "variables": variables}, headers=headers
        )
        token = response.headers.get("vendure-auth-token")
        if token:
            self._token = token
        return response

    def __call__(self, document: str, **variables: Any) -> dict[str, Any]:
        """Run ``document``; returns ``data``, or raises `VendureAPIError` on GraphQL errors."""
        response = self.post(document, **variables)
        body = json_loads(response.content)
        if body.get("errors"):
            messages = "; ".join(str(error.get("message")) for error in body["errors"])
            raise VendureAPIError(f"{self.url}: {messages}")
        response.raise_for_status()
        data: dict[str, Any] = body["data"]
        return data

    def login(self, username: str, password: str) -> None:
        """Log in (Admin API: an administrator; Shop API: a customer)."""
        result = self(
            """mutation($username: String!, $password: String!) {
                 login(username: $username, password: $password) {
                   __typename ... on ErrorResult { errorCode message }
                 }
               }""",
            username=username,
            password=password,
        )["login"]
        check(result)


def check(result: Any, *expected: str) -> dict[str, Any]:
    """An ErrorResult member of a union as a `VendureAPIError`; anything else is returned.

    With ``expected`` type names, a result of another type is an error too.
    """
    if not isinstance(result, dict):
        raise VendureAPIError(f"unexpected answer {result!r}")
    if "errorCode" in result or (expected and result.get("__typename") not in expected):
        raise VendureAPIError(f"{result.get('errorCode')}: {result.get('message')}")
    return result
