"""Every failure becomes a 4xx/5xx with an Aesel ``err_code`` and ``err_msg``.

Internal exception text never reaches the client: it is logged, and the client gets a code.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from aesel.errors import AeselError
from aesel.logutil import LogLimiter
from aesel.model.codes import ErrCode
from aesel.model.inbound import describe
from aesel.rest.responses import error

log = logging.getLogger(__name__)

LONE_SURROGATE = "text holds a lone surrogate, expected valid unicode (utf-8)"


def _validation_message(exc: RequestValidationError) -> tuple[int, str]:
    errors = exc.errors()
    missing = any(err.get("type") == "missing" for err in errors[:5])
    code = ErrCode.INSUFF_DATA if missing else ErrCode.TRANSLATION_ERROR
    return int(code), describe(errors)


def install(app: FastAPI) -> None:
    limited = LogLimiter(log, rate=2.0, burst=10)

    @app.exception_handler(AeselError)
    async def aesel_error(request: Request, exc: AeselError) -> Response:
        if exc.status >= 500:  # one line each, at most a few a second (a full disk: every call)
            limited.warning("%s %s: %s", request.method, request.url.path, exc.message)
            return error(exc.status, int(exc.err_code), exc.reason.replace("_", " "))
        return error(exc.status, int(exc.err_code), exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        code, message = _validation_message(exc)
        return error(400, code, message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        code = ErrCode.NOT_FOUND if exc.status_code == 404 else ErrCode.BAD_MSG_TYPE
        if exc.status_code >= 500:
            code = ErrCode.PROCESSING_ERROR
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        return error(exc.status_code, int(code), detail.lower())

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        if "surrogates not allowed" in str(exc):  # a body the wire models do not check
            return error(400, int(ErrCode.TRANSLATION_ERROR), LONE_SURROGATE)
        log.exception("%s %s failed", request.method, request.url.path)
        return error(500, int(ErrCode.PROCESSING_ERROR), "internal error")


__all__ = ["install"]
