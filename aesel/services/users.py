"""Users, passwords and JWTs (Adrestia; docs/compat.md §1.9, 2.7).

Passwords are hashed with Argon2id (argon2-cffi) and never returned: a user's JSON carries
``"password": ""`` as Adrestia's did. Tokens are JWTs as Adrestia issued them (HS512, one
day of life), but the subject is the immutable user id, not the username: a renamed or
re-created user never inherits another's tokens. A token is valid only while its user exists
and is active.
Hashing is slow on purpose, so it runs in a worker thread, off the event loop.

Secrets: tokens are signed with the current secret and verified with it or any previous one
(a rotation keeps tokens valid until they expire). Without a configured secret, one is
generated once and kept in ``<data-dir>/jwt-secret`` (owner-only), so tokens survive a restart.
Failed logins are throttled by :class:`~aesel.services.throttle.LoginThrottle`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from aesel.config import MIN_SECRET_BYTES
from aesel.errors import Conflict, MissingData, NotFound, NothingMatched, Unauthorized
from aesel.model.catalog import User, UserIn, new_id
from aesel.services.throttle import LoginThrottle
from aesel.storage.catalog import UserStore

log = logging.getLogger(__name__)

TOKEN_LIFETIME = 24 * 3600
ALGORITHM = "HS512"
SECRET_FILE = "jwt-secret"


def stored_secret(data_dir: Path) -> str:
    """The secret kept in ``data_dir/jwt-secret``, generated (mode 0600) the first time.

    Raises :class:`PermissionError` when the file may be read by anyone but its owner: a token
    secret others can read lets them sign in as anyone.
    """
    path = data_dir / SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(64) + "\n")
        log.info("generated a jwt secret in %s", path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PermissionError(
            f"{path} has mode {mode:04o}, expected 0600 (owner-only): run chmod 600 {path}"
        )
    secret = path.read_text().strip()
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise PermissionError(
            f"{path} holds {len(secret)} characters, expected at least {MIN_SECRET_BYTES}"
        )
    return secret


class UserService:
    def __init__(
        self,
        store: UserStore,
        *,
        secret: str,
        previous: Sequence[str] = (),
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.store = store
        self.secret = secret or secrets.token_urlsafe(48)
        self.verify_secrets = (self.secret, *previous)  # the current one first
        self.throttle = throttle or LoginThrottle()
        self._hasher = PasswordHasher()
        # called with a user id when its tokens stop being valid (deleted or deactivated)
        self.on_revoked: Callable[[str], object] = lambda user_id: None

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _verify(self, hashed: str, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(hashed, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check)

    async def seed_admin(self, username: str, password: str) -> None:
        """Create the initial admin unless a user of that name exists (Adrestia's seed)."""
        if await self.store.user_by_name(username) is not None:
            return
        if not password:
            password = secrets.token_urlsafe(12)
            log.warning("no --admin-password given: seeded %r with password %s", username, password)
        user = User(
            id=new_id(), username=username, password_hash=await self._hash(password), admin=True
        )
        with contextlib.suppress(Conflict):  # another node seeded it first
            await self.store.create_user(user)

    async def sign_up(self, body: UserIn) -> User:
        if not body.username or not body.password:
            raise MissingData("sign-up needs a username and a password")
        user = User(
            id=new_id(),
            username=body.username,
            password_hash=await self._hash(body.password),
            email=body.email or "",
            admin=bool(body.isAdmin),
            active=True if body.isActive is None else body.isActive,
            favorite_projects=tuple(body.favoriteProjects or ()),
            favorite_scenes=tuple(body.favoriteScenes or ()),
        )
        try:
            await self.store.create_user(user)
        except Conflict:
            raise Conflict(f"username {body.username!r} or email is taken") from None
        return user

    async def get(self, id: str) -> User:
        """By id; by username as a fallback (PyAesel's ``get_user`` documents a username)."""
        user = await self.store.get_user(id) or await self.store.user_by_name(id)
        if user is None:
            raise NotFound(f"no user {id!r}")
        return user

    async def query(
        self, username: str | None, email: str | None, offset: int, limit: int
    ) -> list[User]:
        found = await self.store.query_users(username or None, email or None, offset, limit)
        if not found:
            raise NotFound("no user matched")
        return found

    async def _save(self, old: User, new: User) -> User:
        if new == old:
            raise NothingMatched(f"user {old.id!r} unchanged")
        try:
            await self.store.put_user(new)
        except Conflict:
            raise Conflict(f"username {new.username!r} or email is taken") from None
        return new

    async def update(self, id: str, body: UserIn) -> User:
        """Change username, password and email only; the admin and active flags have their
        own admin-only routes."""
        user = await self.get(id)
        change: dict[str, object] = {}
        if body.username:
            change["username"] = body.username
        if body.email:
            change["email"] = body.email
        if body.password:
            change["password_hash"] = await self._hash(body.password)
        return await self._save(user, user.model_copy(update=change))

    async def set_flag(self, id: str, flag: str, value: bool) -> User:
        user = await self.get(id)
        saved = await self._save(user, user.model_copy(update={flag: value}))
        if flag == "active" and not value:
            self.on_revoked(user.id)
        return saved

    async def favorite(self, id: str, field: str, item: str, add: bool) -> User:
        user = await self.get(id)
        items: tuple[str, ...] = getattr(user, field)
        items = (*items, item) if add else tuple(i for i in items if i != item)
        return await self._save(user, user.model_copy(update={field: items}))

    async def delete(self, id: str) -> None:
        user = await self.get(id)
        await self.store.delete_user(user.id)
        self.on_revoked(user.id)

    # -- tokens ---------------------------------------------------------------------------

    async def login(self, username: str, password: str, address: str = "") -> str:
        """A token for valid credentials of an active user; 401 otherwise (no hint which).

        :class:`TooManyRequests` while ``username`` or ``address`` is backing off after failed
        logins (the throttle treats unknown users as known ones).
        """
        self.throttle.attempt(username, address, time.monotonic())
        user = await self.store.user_by_name(username)
        if user is None:
            await self._hash(password)  # same work either way: no user-existence oracle
            log.info("login refused: no user %r", username)
            raise Unauthorized("wrong username or password")
        if not await self._verify(user.password_hash, password) or not user.active:
            log.info("login refused for %r: wrong password or inactive", username)
            raise Unauthorized("wrong username or password")
        self.throttle.succeeded(username, address, time.monotonic())
        now = int(time.time())
        return jwt.encode(
            {"sub": user.id, "iat": now, "exp": now + TOKEN_LIFETIME},
            self.secret,
            algorithm=ALGORITHM,
        )

    async def authenticate(self, token: str) -> User:
        """The active user a token names; :class:`Unauthorized` for any bad token."""
        return (await self.authenticate_with_expiry(token))[0]

    async def authenticate_with_expiry(self, token: str) -> tuple[User, float]:
        """The active user a token names and when the token expires (Unix time)."""
        claims = self._decode(token)
        sub = claims.get("sub")
        user = await self.store.get_user(sub) if isinstance(sub, str) else None
        if user is None or not user.active:
            raise Unauthorized("token names no active user")
        return user, float(claims["exp"])  # type: ignore[arg-type]

    def _decode(self, token: str) -> dict[str, object]:
        """The claims of a token signed with the current or a previous secret."""
        for secret in self.verify_secrets:
            try:
                claims: dict[str, object] = jwt.decode(
                    token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]}
                )
                return claims
            except jwt.InvalidSignatureError:
                continue  # perhaps signed with a previous secret
            except jwt.ExpiredSignatureError:
                raise Unauthorized("token expired") from None
            except jwt.InvalidTokenError as e:
                raise Unauthorized(f"invalid token: {str(e).lower()}") from None
        raise Unauthorized("invalid token: signature verification failed")
