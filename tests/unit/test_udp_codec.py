"""Inbound datagrams: bytes in, a validated event or a counted reason out."""

from __future__ import annotations

import contextlib
import random

import orjson
import pytest

from aesel.errors import AeselError, PayloadTooLarge
from aesel.model.inbound import Invalid, Malformed, UnknownType, decode_event
from aesel.model.wire import ObjectIn, PropertyIn


def enc(doc: object) -> bytes:
    return orjson.dumps(doc)


def test_object_and_property_events() -> None:
    ev = decode_event(enc({"msg_type": 1, "key": "k", "scene": "s", "transform": [0] * 16}), 8192)
    assert ev.msg_type == 1 and isinstance(ev.body, ObjectIn) and ev.is_object
    ev = decode_event(enc({"msg_type": 9, "key": "k", "values": [100.0]}), 8192)
    assert isinstance(ev.body, PropertyIn) and not ev.is_object
    for t in (16, 20):
        assert decode_event(enc({"msg_type": t, "key": "k", "actions": []}), 8192).is_object
    for t in (24, 28):
        assert not decode_event(enc({"msg_type": t, "key": "k", "actions": []}), 8192).is_object


@pytest.mark.parametrize(
    ("data", "error", "reason"),
    [
        (b"not json", Malformed, "malformed"),
        (b"[1,2]", Malformed, "malformed"),
        (enc({"key": "k"}), UnknownType, "unknown_type"),
        (enc({"msg_type": "1"}), UnknownType, "unknown_type"),
        (enc({"msg_type": 3, "key": "k"}), UnknownType, "unknown_type"),
        (enc({"msg_type": 1, "key": "k", "transform": [1, 2]}), Invalid, "invalid"),
        (enc({"msg_type": 9, "key": "k", "values": "x"}), Invalid, "invalid"),
        (b"{" + b" " * 9000 + b"}", PayloadTooLarge, "too_large"),
    ],
)
def test_bad_datagrams_are_named(data: bytes, error: type[AeselError], reason: str) -> None:
    with pytest.raises(error) as e:
        decode_event(data, 8192)
    assert e.value.reason == reason


def test_invalid_message_names_the_field() -> None:
    with pytest.raises(Invalid, match="transform: transform has 2 numbers, expected 16"):
        decode_event(enc({"msg_type": 1, "key": "k", "transform": [1, 2]}), 8192)


def test_random_bytes_only_ever_raise_aesel_errors() -> None:
    rng = random.Random(3)
    for _ in range(3000):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
        with contextlib.suppress(AeselError):
            decode_event(data, 8192)
    # and mutated valid events
    base = enc({"msg_type": 1, "key": "k", "scene": "s", "transform": [0.5] * 16})
    for _ in range(3000):
        b = bytearray(base)
        for _ in range(rng.randrange(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        with contextlib.suppress(AeselError):
            decode_event(bytes(b), 8192)
