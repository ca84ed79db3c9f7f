"""Optional API keys: `X-API-Key: <key>` or `Authorization: Bearer <key>`, in constant time.

With settings.api_keys empty (the default) every request passes. Otherwise the middleware asks
`authorized()` for /analysis/* and /metrics (Prometheus can send a bearer token); /healthz,
/readyz and /docs stay open for probes and people.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

PROTECTED_PREFIXES = ("/analysis/", "/metrics")


def protects(path: str) -> bool:
    return path.startswith(PROTECTED_PREFIXES)


def presented_key(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The key a request presents (X-API-Key first, then a bearer token), or None."""
    bearer = None
    for name, value in headers:
        if name == b"x-api-key":
            return value.strip()
        if name == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                bearer = token.strip()
    return bearer


def authorized(headers: Iterable[tuple[bytes, bytes]], keys: Iterable[bytes]) -> bool:
    """Whether the request presents one of `keys`; every key is compared, in constant time."""
    given = presented_key(headers)
    if given is None:
        return False
    match = False
    for key in keys:
        # No short cut: the time taken says nothing about which key, or how much of it, matched.
        match |= hmac.compare_digest(given, key)
    return match
