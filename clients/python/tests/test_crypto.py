"""The SDK's UDP ciphers against the server's own implementation (``aesel.udp.crypto``)."""

from __future__ import annotations

import base64
import os

import pytest

from aesel.udp import crypto as server
from aesel_client.crypto import (
    CbcCipher,
    Forged,
    GcmChannel,
    Replayed,
    UnsupportedVersion,
    key_bytes,
)

KEY = os.urandom(32)


def test_gcm_device_datagrams_open_on_the_server_once() -> None:
    dev = GcmChannel(base64.b64encode(KEY).decode(), "dev-1")
    node = server.UdpSecurity(gcm=True)
    node.channel("dev-1", KEY)
    sealed = [dev.seal(b'{"msg_type":1}') for _ in range(3)]
    assert [node.open(d) for d in sealed] == [(b'{"msg_type":1}', "dev-1")] * 3
    assert sealed[0][:8] == b"\xa5\x02\x05dev-1"  # magic, version, key length, key
    assert len(sealed[0]) == len(b'{"msg_type":1}') + 39 + 5
    nonces = [d[8:20] for d in sealed]
    assert nonces[0][:8] == nonces[2][:8]  # one random prefix, then a counter
    assert [int.from_bytes(n[8:]) for n in nonces] == [0, 1, 2]
    with pytest.raises(server.Replayed):
        node.open(sealed[1])
    tampered = bytearray(dev.seal(b"x"))
    tampered[-1] ^= 1
    with pytest.raises(server.Forged):
        node.open(bytes(tampered))


def test_gcm_sequences_are_increasing_microseconds() -> None:
    now = [5_000_000_000]
    dev = GcmChannel(KEY, "d", clock=lambda: now[0])
    assert [dev.next_seq() for _ in range(3)] == [5_000_000, 5_000_001, 5_000_002]
    now[0] = 9_000_000_000
    assert dev.next_seq() == 9_000_000
    got = server.device_open(KEY, server.GcmChannel("d", KEY).seal(b"p"))
    assert got[1] == b"p"


def test_gcm_server_datagrams_open_on_the_device_once() -> None:
    node = server.GcmChannel("dev-1", KEY)
    dev = GcmChannel(KEY, "dev-1")
    first, second = node.seal(b"one"), node.seal(b"two")
    assert dev.open(second) == b"two"
    assert dev.open(first) == b"one"  # late but inside the window
    with pytest.raises(Replayed):
        dev.open(second)
    with pytest.raises(Forged):  # a device datagram reflected back
        dev.open(server.device_seal(KEY, "dev-1", 1, b"x"))
    with pytest.raises(Forged):
        dev.open(GcmChannel(os.urandom(32), "dev-1").seal(b"x")[:3] + first[3:])
    with pytest.raises(Forged):
        GcmChannel(os.urandom(32), "dev-1").open(node.seal(b"other key"))
    with pytest.raises(UnsupportedVersion):
        dev.open(b"\xa5\x01" + first[2:])
    with pytest.raises(Forged):
        dev.open(first[:30])


def test_gcm_floor_refuses_what_came_before() -> None:
    node = server.GcmChannel("d", KEY)
    old = node.seal(b"old")
    dev = GcmChannel(KEY, "d")
    dev.open(node.seal(b"new"))
    restarted = GcmChannel(KEY, "d", floor=dev.window.top)
    with pytest.raises(Replayed):
        restarted.open(old)


def test_gcm_key_and_device_checks() -> None:
    with pytest.raises(ValueError, match="32"):
        GcmChannel(b"short", "d")
    with pytest.raises(ValueError, match="device key"):
        GcmChannel(KEY, "")


@pytest.mark.parametrize("encoding", ["hex", "raw"])
def test_cbc_matches_the_server_both_ways(encoding: str) -> None:
    texts = (["ab" * 32, "cd" * 16, "ef" * 32, "01" * 16] if encoding == "hex"
             else ["k" * 40, "i" * 20, "K" * 32, "I" * 16])  # fmt: skip
    node_in = server.CbcCodec(server.cbc_key_bytes(texts[0], 32, encoding),
                              server.cbc_key_bytes(texts[1], 16, encoding))  # fmt: skip
    node_out = server.CbcCodec(server.cbc_key_bytes(texts[2], 32, encoding),
                               server.cbc_key_bytes(texts[3], 16, encoding))  # fmt: skip
    answer = {"encryption_key": texts[0], "encryption_iv": texts[1],
              "decryption_key": texts[2], "decryption_iv": texts[3]}  # fmt: skip
    dev = CbcCipher.from_registration(answer, encoding)  # type: ignore[arg-type]
    assert node_in.open(dev.seal(b'{"msg_type":1}')) == b'{"msg_type":1}'
    assert dev.open(node_out.seal(b"fan-out")) == b"fan-out"
    assert dev.seal(b"x") == node_in.seal(b"x")
    with pytest.raises(Forged):
        dev.open(b"not base64!")
    with pytest.raises(Forged):
        dev.open(base64.b64encode(b"12345"))
    with pytest.raises(ValueError, match="does not run cbc"):
        CbcCipher.from_registration({})


def test_key_texts() -> None:
    assert key_bytes("00" * 16, 16) == bytes(16)
    with pytest.raises(ValueError, match="hex"):
        key_bytes("zz" * 16, 16)
    with pytest.raises(ValueError, match="bytes"):
        key_bytes("00" * 15, 16)
    with pytest.raises(ValueError, match="at least"):
        key_bytes("short", 16, "raw")
