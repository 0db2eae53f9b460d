"""Decoding inbound Aesel UDP events. Pure: bytes in, a validated event out, or an error.

A datagram holds one bare JSON object, e.g. ``{"msg_type":1,"key":K,"scene":S,"transform":[16]}``
(reference 3.4). msg_types 1, 16, 20 are object events; 9, 24, 28 property events.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from pydantic import ValidationError

from aesel.errors import BadRequest, PayloadTooLarge
from aesel.model.codes import MsgType
from aesel.model.wire import ObjectIn, PropertyIn

OBJECT_EVENTS = frozenset({MsgType.OBJ_UPD, MsgType.OBJ_FRAME_UPD, MsgType.OBJ_ACTION_UPD})
PROPERTY_EVENTS = frozenset({MsgType.PROP_UPD, MsgType.PROP_FRAME_UPD, MsgType.PROP_ACTION_UPD})


class Malformed(BadRequest):
    reason = "malformed"


class UnknownType(BadRequest):
    reason = "unknown_type"


class Invalid(BadRequest):
    reason = "invalid"


@dataclass(frozen=True, slots=True)
class InboundEvent:
    msg_type: int
    body: ObjectIn | PropertyIn

    @property
    def is_object(self) -> bool:
        return isinstance(self.body, ObjectIn)


def validation_message(e: ValidationError) -> str:
    """One lowercase line naming each bad field: ``transform: transform has 12 numbers, ...``."""
    parts = []
    for err in e.errors(include_url=False)[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        msg = str(err["msg"])
        msg = msg.removeprefix("Value error, ")
        parts.append(f"{loc}: {msg[:1].lower()}{msg[1:]}")
    return "; ".join(parts)


def decode_event(data: bytes, max_size: int) -> InboundEvent:
    if len(data) > max_size:
        raise PayloadTooLarge(f"datagram has {len(data)} bytes, expected at most {max_size}")
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise Malformed(f"datagram is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise Malformed(f"datagram holds a JSON {type(doc).__name__}, expected an object")
    msg_type = doc.get("msg_type")
    if type(msg_type) is not int:
        raise UnknownType(f"msg_type is {msg_type!r}, expected an integer")
    try:
        if msg_type in OBJECT_EVENTS:
            return InboundEvent(msg_type, ObjectIn.model_validate(doc))
        if msg_type in PROPERTY_EVENTS:
            return InboundEvent(msg_type, PropertyIn.model_validate(doc))
    except ValidationError as e:
        raise Invalid(validation_message(e)) from None
    raise UnknownType(
        f"msg_type {msg_type} is not an inbound event, expected 1, 9, 16, 20, 24 or 28"
    )
