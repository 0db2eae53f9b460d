"""Request body size limit, as a pure ASGI middleware (before anything reads the body)."""

from __future__ import annotations

import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aesel.model.codes import ErrCode
from aesel.rest.responses import error


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Answers 413 when a body exceeds ``max_bytes``, by Content-Length or while streaming.

    Paths under ``exempt`` (asset uploads, which stream to disk with their own limit) pass.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        too_large = error(
            413, int(ErrCode.TRANSLATION_ERROR), f"body is larger than {self.max_bytes} bytes"
        )
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await too_large(scope, receive, send)
                    return
        seen = 0
        answered = False  # the 413 went out; drop whatever the app sends after it

        async def limited_receive() -> Message:
            nonlocal seen, answered
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes and not answered:
                    answered = True
                    await too_large(scope, receive, send)
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            if not answered:
                await send(message)

        with contextlib.suppress(_TooLarge):
            await self.app(scope, limited_receive, guarded_send)
