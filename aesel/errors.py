"""The aesel exception tree.

::

    AeselError                 err_code, HTTP status, a message safe to show a peer
    ├── BadRequest             110  400  input that cannot be parsed or has wrong types
    │   ├── MissingData        122  400  a required field is absent
    │   └── Unauthenticated    110  400  a streamed event whose sender is not authenticated
    ├── NotFound               102  404
    ├── Locked                 123  423  the object is locked by another device
    ├── PayloadTooLarge        110  413
    ├── BackendUnavailable     101  503  the store cannot be reached or written
    ├── Conflict               101  409  a username or email already taken
    ├── Unauthorized           101  401  no token, or a bad, expired or forged one
    ├── Forbidden              101  403  a valid token without the right to do this
    ├── TooManyRequests        101  429  throttled (failed logins); ``retry_after`` seconds
    └── NothingMatched         102  416  Spring's "nothing found / nothing modified"

Services raise these; REST turns them into ``{"err_code", "err_msg"}`` bodies, the UDP
and WebSocket paths count them as drop reasons. Driver exceptions are translated once, at
the storage boundary. Messages are lowercase and say what was expected and what came.
"""

from __future__ import annotations

from aesel.model.codes import ErrCode


class AeselError(Exception):
    err_code: ErrCode = ErrCode.ERROR
    status: int = 500
    reason: str = "error"  # short name, used as a metrics label

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(AeselError):
    err_code = ErrCode.TRANSLATION_ERROR
    status = 400
    reason = "bad_request"


class MissingData(BadRequest):
    err_code = ErrCode.INSUFF_DATA
    reason = "missing_data"


class NotFound(AeselError):
    err_code = ErrCode.NOT_FOUND
    status = 404
    reason = "not_found"


class Locked(AeselError):
    err_code = ErrCode.LOCK_EXISTS
    status = 423
    reason = "locked"


class PayloadTooLarge(AeselError):
    err_code = ErrCode.TRANSLATION_ERROR
    status = 413
    reason = "too_large"


class BackendUnavailable(AeselError):
    err_code = ErrCode.ERROR
    status = 503
    reason = "backend_unavailable"


class Unauthenticated(BadRequest):
    """A streamed event that needed an authenticated sender and did not come with one."""

    reason = "unauthenticated"


class Conflict(AeselError):
    err_code = ErrCode.ERROR
    status = 409
    reason = "conflict"


class Unauthorized(AeselError):
    err_code = ErrCode.ERROR
    status = 401
    reason = "unauthorized"


class Forbidden(AeselError):
    err_code = ErrCode.ERROR
    status = 403
    reason = "forbidden"


class TooManyRequests(AeselError):
    """Throttled; REST answers 429 with ``Retry-After: retry_after``."""

    err_code = ErrCode.ERROR
    status = 429
    reason = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NothingMatched(AeselError):
    """What Kelona, AeselProjects and Adrestia answered with 416 REQUESTED_RANGE_NOT_SATISFIABLE."""

    err_code = ErrCode.NOT_FOUND
    status = 416
    reason = "nothing_matched"
