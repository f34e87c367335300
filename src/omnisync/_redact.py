"""Keep secrets out of anything printed: URLs, log lines, error messages."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["REDACTED", "SecretRegistry", "redact_url", "secrets"]

REDACTED = "[redacted]"

# Query parameters that carry credentials in the wild (WooCommerce consumer_key/secret,
# OAuth access_token, signed-URL signatures, ...).
_SECRET_PARAM = re.compile(r"(key|secret|token|password|passwd|signature|sig|auth)", re.I)


def redact_url(url: str) -> str:
    """The URL with user-info and credential-like query values replaced by ``[redacted]``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = urlencode(
        [
            (name, REDACTED if _SECRET_PARAM.search(name) else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="[]",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class SecretRegistry:
    """Every secret value omnisync has loaded, so log output can be scrubbed of them."""

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, value: str) -> None:
        """Remember ``value`` as a secret; very short values are ignored (they would mask noise)."""
        if len(value) >= 4:
            self._values.add(value)

    def scrub(self, text: str) -> str:
        """``text`` with every known secret replaced by ``[redacted]``."""
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text


secrets = SecretRegistry()
"""The process-wide registry; the config loader adds every secret it resolves."""
