"""The HTTP port's connection guard: uvicorn's httptools protocol with admission and a
header timeout.

uvicorn closes an idle keep-alive connection (``timeout_keep_alive``) but has no header-read
timeout: a client that never finishes its request headers holds its connection forever
(slowloris). :func:`guarded_protocol` makes a subclass of uvicorn's ``HttpToolsProtocol`` that

- admits each connection through a :class:`~aesel.net.ConnectionLimits` and answers one it
  refuses with a bare 503 before closing it;
- closes a connection that has not completed a request's headers ``header_timeout`` seconds
  after it was accepted, or after the previous response when it is kept alive (as nginx's
  ``client_header_timeout`` and Go's ``ReadHeaderTimeout``), counted as ``header_timeout``.

It overrides the parser callbacks uvicorn documents as its protocol interface
(``connection_made``, ``on_headers_complete``, ``on_response_complete``, ``connection_lost``);
the uvicorn version is pinned in ``pyproject.toml`` and ``tests/integration/test_limits.py``
exercises each of them.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from aesel.net import REFUSED, ConnectionLimits


def guarded_protocol(limits: ConnectionLimits, header_timeout: float) -> type[HttpToolsProtocol]:
    """The protocol class to give ``uvicorn.Config(http=...)`` for one HTTP port."""

    class GuardedHttpProtocol(HttpToolsProtocol):
        _address = ""
        _admitted = False
        _timer: asyncio.TimerHandle | None = None
        _requests = 0  # requests whose headers are complete
        _responses = 0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            peer = transport.get_extra_info("peername")
            self._address = str(peer[0]) if peer else ""
            if not limits.admit(self._address):
                transport.write(REFUSED)
                transport.close()
                return
            self._admitted = True
            super().connection_made(transport)
            self._wait_for_headers()

        def data_received(self, data: bytes) -> None:
            if self._admitted:
                super().data_received(data)

        def connection_lost(self, exc: Exception | None) -> None:
            if not self._admitted:
                return
            self._admitted = False
            self._stop_timer()
            limits.release(self._address)
            super().connection_lost(exc)

        def on_headers_complete(self) -> None:
            self._stop_timer()
            self._requests += 1
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            self._responses += 1
            super().on_response_complete()
            if self._requests == self._responses:  # nothing pipelined: the next headers are due
                self._wait_for_headers()

        def _wait_for_headers(self) -> None:
            self._stop_timer()
            if not self.transport.is_closing():
                self._timer = self.loop.call_later(header_timeout, self._headers_late)

        def _stop_timer(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _headers_late(self) -> None:
            self._timer = None
            if not self.transport.is_closing():
                limits.count("header_timeout")
                self.transport.close()

    return GuardedHttpProtocol
