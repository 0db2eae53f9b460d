"""Exceptions raised by the SDK.

::

    AeselError                      err_code, err_msg, status
    ├── BadRequest        400       the body or a parameter was refused
    ├── Unauthorized      401       no token, a bad one, or a wrong password
    ├── Forbidden         403
    ├── NotFound          404 / 204 no such scene, object, property, asset
    ├── Conflict          409
    ├── TooLarge          413
    ├── NothingFound      416       a query found nothing / an update changed nothing
    ├── Locked            423       another device holds the object's lock
    └── StreamError                 the WebSocket stream gave up (refused token, policy close)
"""

from __future__ import annotations


class AeselError(Exception):
    """An error answered by aesel: ``err_code`` and ``err_msg`` as the server sent them."""

    def __init__(self, err_msg: str, err_code: int = 101, status: int = 0) -> None:
        super().__init__(f"{err_msg} (err_code {err_code}, status {status})")
        self.err_code = err_code
        self.err_msg = err_msg
        self.status = status


class BadRequest(AeselError):
    pass


class Unauthorized(AeselError):
    pass


class Forbidden(AeselError):
    pass


class NotFound(AeselError):
    pass


class Conflict(AeselError):
    pass


class TooLarge(AeselError):
    pass


class NothingFound(AeselError):
    pass


class Locked(AeselError):
    pass


class StreamError(AeselError):
    """The stream stopped for good: the server refused the token or closed with a policy code."""


BY_STATUS: dict[int, type[AeselError]] = {
    204: NotFound,
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    416: NothingFound,
    423: Locked,
}
