"""Authentication and authorization with ``--auth`` (docs/compat.md §1.1, 1.9), as one ASGI gate.

Theory of operation: the gate runs before routing. With auth off it does nothing, and every
request sees everything (the default ``Principal``), as in Aesel. With auth on:

- ``/health``, ``/login``, ``/openapi.json``, the docs pages and anything outside ``/v1`` and
  ``/users`` are open. Every ``/v1`` and ``/users`` route needs a valid JWT, from the
  ``Authorization: Bearer`` header or the ``access_token`` cookie; without one it answers 401.
- The token's user becomes ``request.state.viewer``, which every service uses to hide private
  scenes, assets, collections and projects from everyone but their owner (admins see all).
- Admin-only: ``/users/sign-up``, ``/users/{id}/admin``, ``/users/{id}/active`` and the scene
  cache routes. Adrestia meant this but wrote ``!(isAdmin || isActive)``, letting any active
  user through; here it is really admin-only (403 otherwise).
- A non-admin may call other ``/users`` routes only for themself: their own id or username in
  the path, or their own username or email as the query (Adrestia's rule).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from aesel.errors import AeselError, Forbidden, Unauthorized
from aesel.model.catalog import User
from aesel.rest.responses import error
from aesel.services.policy import Principal
from aesel.services.users import UserService
from aesel.tokens import bearer

GUARDED = ("/v1/", "/users")
ADMIN_SUFFIXES = ("/admin", "/active")


def token_of(conn: HTTPConnection) -> str | None:
    return bearer(conn.headers.get("authorization"), conn.headers.get("cookie"))


def check_rights(user: User, method: str, path: str, query: str) -> None:
    """Raise :class:`Forbidden` when ``user`` may not make this request."""
    if user.admin:
        return
    if not path.startswith("/users"):
        return
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[1] == "sign-up":
        raise Forbidden("only an admin may sign users up")
    if len(parts) == 3 and "/" + parts[2] in ADMIN_SUFFIXES:
        raise Forbidden(f"only an admin may change the {parts[2]} flag")
    if len(parts) >= 2:
        if parts[1] in (user.id, user.username):
            return
        raise Forbidden(f"a non-admin may only see or change their own user, not {parts[1]!r}")
    asked = parse_qs(query)
    if asked.get("username") == [user.username] or (
        user.email and asked.get("email") == [user.email]
    ):
        return
    raise Forbidden("a non-admin may only query their own username or email")


class AuthGate:
    """Pure ASGI middleware: sets ``scope["state"]["viewer"]`` or answers 401/403."""

    def __init__(self, app: ASGIApp, users: UserService, enabled: bool) -> None:
        self.app = app
        self.users = users
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if not self.enabled or scope["type"] != "http" or not path.startswith(GUARDED):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        try:
            token = token_of(conn)
            if token is None:
                raise Unauthorized(
                    "authentication required: expected an Authorization: Bearer token or an "
                    "access_token cookie, got neither"
                )
            user = await self.users.authenticate(token)
            check_rights(user, scope["method"], path, scope.get("query_string", b"").decode())
        except AeselError as e:
            response = error(e.status, int(e.err_code), e.message)
            if e.status == 401:
                response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["viewer"] = Principal(
            user=user.id, admin=user.admin, enforced=True
        )
        await self.app(scope, receive, send)
