"""Where a request carries its login token: one rule for the HTTP API and the WebSocket.

``Authorization: Bearer <token>`` first, then the ``access_token`` cookie that ``POST /login``
sets. The WebSocket also takes ``?token=`` (browsers cannot set headers on a WebSocket); the
HTTP API does not, so tokens stay out of its access logs.
"""

from __future__ import annotations

import contextlib
from http.cookies import CookieError, SimpleCookie


def bearer(authorization: str | None, cookie: str | None) -> str | None:
    """The token of an ``Authorization`` header value or a ``Cookie`` header value."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if cookie:
        jar: SimpleCookie = SimpleCookie()
        with contextlib.suppress(CookieError):
            jar.load(cookie)
            if "access_token" in jar and jar["access_token"].value:
                return jar["access_token"].value
    return None
