"""The UDP endpoint: events in on :8762, and the socket that sends datagrams to devices.

Reading in batches. The loop calls ``datagram_received`` for one datagram; the endpoint then
reads whatever else is already waiting in the socket's receive buffer (up to ``max_batch``
datagrams, non-blocking, on a duplicate of the socket's descriptor), so that one loop turn
handles everything that queued while the node was busy and the hub sends it in one flush.
When the node is behind (a large batch whose datagrams waited more than ``SHED_AFTER`` in
the kernel, or a read that stopped at ``max_batch``), a bare transform update superseded by a
later one of the same object from the same sender is dropped (``stale``,
:mod:`aesel.services.ingest`): the node sheds stale updates instead of queueing seconds of them
in the kernel.

How long the batch waited: the kernel stamps each datagram on arrival (``SO_TIMESTAMPNS``, on
Linux), and the first datagram the endpoint reads itself is read with its stamp. Without
stamps, the time since a read last found the socket empty stands in; that also counts an idle
gap before a burst as waiting, so a device that pauses and then sends a burst would see it
thinned although the node keeps up.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
import sys
import time
import weakref
from collections import Counter
from collections.abc import Callable
from typing import cast

from aesel.errors import AeselError
from aesel.logutil import LogLimiter
from aesel.model import inbound
from aesel.model.inbound import Inbound
from aesel.services.ingest import Ingest, is_behind, stale
from aesel.services.policy import OPEN, Principal
from aesel.udp import mmsg
from aesel.udp.crypto import UdpSecurity
from aesel.udp.mmsg import MultiSender

log = logging.getLogger(__name__)

SO_TIMESTAMPNS = 35
"""Linux's ``SO_TIMESTAMPNS`` (``SO_TIMESTAMPNS_OLD``): a ``struct timespec`` of the arrival
time (CLOCK_REALTIME) with each datagram read by ``recvmsg``; ``socket`` has no name for it."""
_STAMP = struct.Struct("@qq")
_STAMP_SPACE = socket.CMSG_SPACE(_STAMP.size)


class UdpEndpoint(asyncio.DatagramProtocol):
    """Decrypts (when on) and decodes each datagram, applies it as its sender, counts drops.

    Nothing here awaits: an event for a cached object goes from ``datagram_received`` to the
    hub in one synchronous pass; the hub writes the outbound datagrams at the end of the turn.
    """

    def __init__(
        self,
        ingest: Ingest,
        drops: Counter[str],
        security: UdpSecurity | None = None,
        *,
        principal: Callable[[str | None], Principal] = lambda device: OPEN,
        max_size: int = 8192,
        max_batch: int = 1024,
    ) -> None:
        self.ingest = ingest
        self.drops = drops
        self.security = security or UdpSecurity()
        self.principal = principal
        self.max_size = max_size
        self.max_batch = max_batch  # datagrams read in one go; 1: one at a time, no shedding
        self.received = 0
        self.batches = 0  # reads that found more than one datagram waiting
        self.transport: asyncio.DatagramTransport | None = None
        self._sock: socket.socket | None = None  # a duplicate descriptor, for batch reads
        self.multi: MultiSender | None = None  # sendmmsg on the socket, for the hub
        self._empty_at = 0  # perf_counter_ns when a read last found the socket empty
        self._stamped = False  # the kernel stamps each datagram's arrival (SO_TIMESTAMPNS)
        self._capped = False  # the last read stopped at max_batch: more was waiting
        self._read_this_turn = False  # a batch was read in this loop turn (see _drain)
        self._limited = LogLimiter(log)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        self.multi = mmsg.for_socket(sock)
        self._empty_at = time.perf_counter_ns()
        if self.max_batch > 1 and sock is not None:
            try:
                self._sock = socket.socket(fileno=os.dup(sock.fileno()))
                self._sock.setblocking(False)
                if sys.platform == "linux":
                    self._sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                    self._stamped = True
                # closed even if the loop never calls connection_lost (a node dropped mid-stop)
                weakref.finalize(self, self._sock.close)
            except OSError as e:  # no batch reads: one datagram per callback still works
                log.warning("udp: batch reads off: %s", e)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        t_in = time.perf_counter_ns()
        since_empty = (t_in - self._empty_at) / 1e9  # stands in where there is no stamp
        batch, waited = self._drain(data, addr)
        self.received += len(batch)
        if len(batch) == 1:
            self._apply(data, addr, t_in)
            return
        self.batches += 1
        opened: list[tuple[Inbound, tuple[str, int], str | None]] = []
        for d, a in batch:
            try:
                plain, device = self.security.open(d)
                opened.append((inbound.decode(plain, self.max_size), a, device))
            except AeselError as e:
                self._drop(e, a)
            except Exception:
                self.drops["internal"] += 1
                log.exception("udp: error handling datagram from %s:%d", a[0], a[1])
        behind = self._capped or is_behind(len(batch), since_empty if waited is None else waited)
        shed = (
            stale([(ev, (a, device)) for ev, a, device in opened])
            if behind
            else [False] * len(opened)
        )
        for (ev, a, device), is_stale in zip(opened, shed, strict=True):
            if is_stale:
                self.drops["stale"] += 1
                continue
            try:
                self.ingest.apply(ev, self.principal(device), t_in)
            except AeselError as e:
                self._drop(e, a)
            except Exception:
                self.drops["internal"] += 1
                log.exception("udp: error handling datagram from %s:%d", a[0], a[1])

    def _drain(
        self, data: bytes, addr: tuple[str, int]
    ) -> tuple[list[tuple[bytes, tuple[str, int]]], float | None]:
        """``(data, addr)`` and the datagrams already waiting behind it (without blocking), and
        the seconds the first of those waited in the kernel (``None``: no stamp read).

        Once per loop turn: the loop may hand over more datagrams in the same turn (libuv
        reads up to 32 per wake-up), and the hub flushes only at the end of the turn, so a
        second batch would hold the first one's deliveries back. Those come one at a time.
        """
        batch = [(data, addr)]
        waited: float | None = None
        sock = self._sock
        if sock is None or self._read_this_turn:
            return batch, waited
        self._read_this_turn = True
        asyncio.get_running_loop().call_soon(self._next_turn)
        recv, size = sock.recvfrom, self.max_size + 1
        self._capped = True  # until the socket is found empty
        try:
            if self._stamped:
                d, a, waited = _read_stamped(sock, size)
                batch.append((d, a))
            for _ in range(self.max_batch - len(batch)):
                batch.append(recv(size))
        except (BlockingIOError, InterruptedError):
            self._capped = False
            self._empty_at = time.perf_counter_ns()
        except OSError as e:  # an ICMP error queued on the socket, say
            self._capped = False
            self.error_received(e)
        return batch, waited

    def _next_turn(self) -> None:
        self._read_this_turn = False

    def _apply(self, data: bytes, addr: tuple[str, int], t_in: int) -> None:
        try:
            plain, device = self.security.open(data)
            self.ingest.apply(inbound.decode(plain, self.max_size), self.principal(device), t_in)
        except AeselError as e:
            self._drop(e, addr)
        except Exception:
            self.drops["internal"] += 1
            log.exception("udp: error handling datagram from %s:%d", addr[0], addr[1])

    def _drop(self, e: AeselError, addr: tuple[str, int]) -> None:
        self.drops[e.reason] += 1
        self._limited.warning("udp: dropped datagram from %s:%d: %s", addr[0], addr[1], e.message)

    def error_received(self, exc: Exception) -> None:
        self.drops["socket_error"] += 1
        self._limited.warning("udp: socket error: %s", exc)

    def kernel_drops(self) -> int:
        """Datagrams the kernel dropped because the socket's receive buffer was full.

        Read from ``/proc/net/udp`` (the ``drops`` column of this socket's inode) when
        ``/metrics`` is scraped: asyncio offers no ``SO_RXQ_OVFL`` ancillary data. 0 where
        there is no such file.
        """
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is None:
            return 0
        return socket_drops(os.fstat(sock.fileno()).st_ino)


def _read_stamped(sock: socket.socket, size: int) -> tuple[bytes, tuple[str, int], float | None]:
    """One datagram, its sender, and the seconds it waited in the kernel (``None`` without a
    stamp)."""
    data, ancdata, _, addr = sock.recvmsg(size, _STAMP_SPACE)
    for level, kind, value in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= _STAMP.size:
            sec, nsec = _STAMP.unpack_from(value)
            return data, addr, max(0.0, time.time() - sec - nsec / 1e9)
    return data, addr, None


def socket_drops(inode: int, tables: tuple[str, ...] = ("/proc/net/udp", "/proc/net/udp6")) -> int:
    """The kernel's drop count for the UDP socket with ``inode`` (0 when not found)."""
    wanted = str(inode)
    for path in tables:
        try:
            with open(path) as f:
                next(f, None)  # the header
                for line in f:
                    cols = line.split()
                    if len(cols) >= 13 and cols[9] == wanted:
                        return int(cols[12])
        except OSError:
            continue
    return 0
