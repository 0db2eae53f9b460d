"""Streamed updates in (UDP and WebSocket): a decoded event and who sent it, to the services.

The transports decode at their edge (:mod:`aesel.model.inbound`) and hand ``Ingest.apply`` the
typed event with the :class:`~aesel.services.policy.Principal` that sent it; the object and
property services decide whether it may apply (rights come from the scene).

Shedding stale updates: a transport that finds inbound events waiting (datagrams queued in
the socket's receive buffer, messages queued on a WebSocket) reads them together. When the node
is behind, that is, more than :data:`SHED_ABOVE` events are waiting and they waited more than
:data:`SHED_AFTER` seconds (UDP: by the kernel's arrival stamps; a WebSocket, whose bytes carry
no arrival stamp: how late the event loop ran, :class:`LoopLag`, plus how long the messages
were queued in the process), it asks :func:`stale` which of them a
later one makes pointless: a bare transform update of an object superseded by a later bare
transform update of the same object from the same sender (and naming the same device). Those
are dropped (counted ``stale``), so the node catches up with the latest state of each object
instead of working through seconds of history; under a sustained overload the backlog, and so
the latency, stays near ``SHED_AFTER``. Every other event (creates, deletes, properties,
actions) is applied, in order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Sequence

from aesel.errors import Unauthenticated
from aesel.model.inbound import BareTransform, Inbound
from aesel.model.wire import ObjectIn
from aesel.services.objects import ObjectService
from aesel.services.policy import Principal
from aesel.services.properties import PropertyService


def _nobody(device: str) -> bool:
    return False


SHED_ABOVE = 16
"""Events read together before the node may count as behind: a few updates of one object sent
back to back are all applied."""

SHED_AFTER = 0.05
"""Seconds a backlog waited beyond which it is shed: a node that keeps up, or that was away for
a moment (a scheduling hiccup), delivers every update; one that stays behind keeps only the
latest of each object."""


def is_behind(waiting: int, waited: float) -> bool:
    """Whether ``waiting`` events read together, which waited ``waited`` seconds, mean the node
    is behind and sheds stale ones."""
    return waiting > SHED_ABOVE and waited > SHED_AFTER


class LoopLag:
    """How late this process's event loop runs: a timer due every ``every`` seconds notes how
    late it fired. An idle loop fires it on time; a loop that was busy (callbacks back to back)
    or stalled fires it late by about as long, and data that reached a socket meanwhile waited
    in the kernel about as long before the loop read it.

    :meth:`recent` is the largest lateness of the last ``window`` seconds, so a stall is still
    seen by the reader that runs a turn or two after the timer noted it. Read by the WebSocket
    shedding (a backlog's age: TCP bytes carry no arrival stamp) and exported as
    ``aesel_loop_lag_seconds``. Costs one timer callback every ``every`` seconds.
    """

    def __init__(self, every: float = 0.01, window: float = 0.1) -> None:
        self.every = every
        self.window = window
        self._late = 0.0  # the largest lateness of the window
        self._late_at = 0.0  # when it was noted
        self._due = 0.0
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._due = time.monotonic() + self.every
        self._handle = asyncio.get_running_loop().call_later(self.every, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        now = time.monotonic()
        late = max(0.0, now - self._due)
        if late >= self._late or now - self._late_at > self.window:
            self._late, self._late_at = late, now
        self._due = now + self.every
        self._handle = asyncio.get_running_loop().call_later(self.every, self._tick)

    def recent(self) -> float:
        """Seconds the loop ran late at worst in the last ``window``, this turn included (how
        long past due the next tick already is); 0 when not started."""
        now = time.monotonic()
        noted = self._late if now - self._late_at <= self.window else 0.0
        return noted if self._handle is None else max(noted, now - self._due)


def stale(events: Sequence[tuple[Inbound, Hashable]]) -> list[bool]:
    """For each ``(event, sender)`` read together, whether it is superseded: a bare transform
    update followed, later in ``events``, by another of the same object from the same sender.

    The last update of each object wins; only bare transforms are ever superseded (they carry
    nothing but the transform, so the later one holds everything the earlier one said).
    """
    last: dict[tuple[str, str | None, Hashable], int] = {}
    for i, (ev, sender) in enumerate(events):
        if type(ev) is BareTransform:
            last[ev.key, ev.device, sender] = i
    if len(last) == len(events):
        return [False] * len(events)
    return [
        isinstance(ev, BareTransform) and last[ev.key, ev.device, sender] != i
        for i, (ev, sender) in enumerate(events)
    ]


class Ingest:
    """Applies one inbound event.

    Synchronous for cached objects; raises ``AeselError`` on bad input or refused rights
    (callers count the error's ``reason`` as a drop). An event that names a device holding a
    datagram key must come authenticated as that device (``Unauthenticated`` otherwise); an
    event that names no device acts as the device that authenticated it (lock checks apply).
    """

    def __init__(
        self,
        objects: ObjectService,
        properties: PropertyService,
        *,
        is_protected: Callable[[str], bool] = _nobody,
    ) -> None:
        self.objects = objects
        self.properties = properties
        self.is_protected = is_protected

    def _check_device(self, named: str | None, who: Principal) -> None:
        if named and named != who.device and self.is_protected(named):
            raise Unauthenticated(f"event names device {named!r} but is not authenticated as it")

    def apply(self, event: Inbound, who: Principal, t_in: int) -> None:
        if isinstance(event, BareTransform):
            self._check_device(event.device, who)
            if self.objects.stream_transform(event, who, t_in):
                return
            obj = ObjectIn(
                key=event.key, scene=event.scene or None, transform=list(event.transform)
            )
            if event.device:
                obj = obj.model_copy(update={"device": event.device})
            self.objects.stream(obj, 1, who, t_in)
            return
        body = event.body
        if isinstance(body, ObjectIn):
            self._check_device(body.device, who)
            self.objects.stream(body, event.msg_type, who, t_in)
            return
        self.properties.stream(body, event.msg_type, who, t_in)
