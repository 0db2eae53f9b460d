"""Streamed updates in (UDP and WebSocket): a decoded event and who sent it, to the services.

The transports decode at their edge (:mod:`aesel.model.inbound`) and hand ``Ingest.apply`` the
typed event with the :class:`~aesel.services.policy.Principal` that sent it; the object and
property services decide whether it may apply (rights come from the scene).
"""

from __future__ import annotations

from collections.abc import Callable

from aesel.errors import Unauthenticated
from aesel.model.inbound import BareTransform, Inbound
from aesel.model.wire import ObjectIn
from aesel.services.objects import ObjectService
from aesel.services.policy import Principal
from aesel.services.properties import PropertyService


def _nobody(device: str) -> bool:
    return False


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
