"""Inbound events, shared by UDP and WebSocket: one event's JSON in, a service call out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from aesel.model.wire import ObjectIn, PropertyIn, is_float32
from aesel.services.objects import ObjectService
from aesel.services.properties import PropertyService
from aesel.udp.codec import decode_event
from aesel.udp.crypto import Unauthenticated


def _nobody(device: str) -> bool:
    return False


_FAST_KEYS = frozenset({"msg_type", "key", "scene", "transform", "device"})
_NUMBERS = frozenset({int, float})  # exact types: bool is not a number here


def bare_transform(doc: Any) -> tuple[str, str, tuple[float, ...], str | None] | None:
    """``(key, scene, transform, device)`` when ``doc`` is a bare, valid transform update
    (msg_type 1 with nothing else), the shape almost every streamed event has; else ``None``
    (the general, validating path then decides)."""
    if type(doc) is not dict or doc.get("msg_type") != 1 or type(doc["msg_type"]) is not int:
        return None
    if not doc.keys() <= _FAST_KEYS:
        return None
    key, scene, t, device = (
        doc.get("key"),
        doc.get("scene", ""),
        doc.get("transform"),
        doc.get("device"),
    )
    if type(key) is not str or not key or type(scene) is not str:
        return None
    if device is not None and type(device) is not str:
        return None
    if type(t) is not list or len(t) != 16 or not set(map(type, t)) <= _NUMBERS:
        return None
    if not all(map(is_float32, t)):  # the validating path refuses it with a message
        return None
    return key, scene, tuple(map(float, t)), device or None


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
        if len(data) <= self.max_size:
            try:
                fast = bare_transform(orjson.loads(data))
            except orjson.JSONDecodeError:
                fast = None
            if fast is not None:
                key, scene, transform, named = fast
                if named and named != device and self.is_protected(named):
                    raise Unauthenticated(
                        f"event names device {named!r} but is not authenticated as it"
                    )
                if self.objects.stream_transform(key, scene, transform, named or device, t_in):
                    return
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
