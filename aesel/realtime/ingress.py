"""Inbound events, shared by UDP and WebSocket: one event's JSON in, a service call out."""

from __future__ import annotations

from collections.abc import Callable

from aesel.model.wire import ObjectIn, PropertyIn
from aesel.services.objects import ObjectService
from aesel.services.properties import PropertyService
from aesel.udp.codec import decode_event
from aesel.udp.crypto import Unauthenticated


def _nobody(device: str) -> bool:
    return False


class Ingress:
    """Applies an Aesel event (``{"msg_type":1,"key":K,"scene":S,"transform":[16]}``).

    ``apply`` runs synchronously for cached objects and raises ``AeselError`` on bad input;
    callers count the error's ``reason`` as a drop. An event that names a device holding a GCM
    key must come authenticated as that device (``Unauthenticated`` otherwise); an
    authenticated event that names no device acts as its device (lock checks apply).
    """

    def __init__(
        self,
        objects: ObjectService,
        properties: PropertyService,
        *,
        max_size: int,
        is_protected: Callable[[str], bool] = _nobody,
    ) -> None:
        self.objects = objects
        self.properties = properties
        self.max_size = max_size
        self.is_protected = is_protected

    def apply(self, data: bytes, t_in: int, device: str | None = None) -> None:
        """Apply one event; ``device`` is the device that authenticated it, if any."""
        event = decode_event(data, self.max_size)
        body = event.body
        if isinstance(body, ObjectIn):
            named = body.device
            if named and named != device and self.is_protected(named):
                raise Unauthenticated(
                    f"event names device {named!r} but is not authenticated as it"
                )
            self.objects.stream(body, event.msg_type, named or device, t_in)
            return
        assert isinstance(body, PropertyIn)
        self.properties.stream(body, event.msg_type, t_in)
