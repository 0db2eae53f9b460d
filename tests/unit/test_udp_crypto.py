"""GCM and CBC, without sockets."""

from __future__ import annotations

import base64

import pytest

from aesel.udp import crypto


def test_replay_window() -> None:
    w = crypto.ReplayWindow()
    for n in (1, 3, 2, 70):
        assert w.check(n)
        w.record(n)
    assert not w.check(3) and not w.check(70)
    assert w.check(69) and not w.check(6)  # 6 is older than the 64-counter window


def test_gcm_round_trip_both_ways() -> None:
    key = crypto.new_key()
    sec = crypto.UdpSecurity(gcm=True)
    ch = sec.channel("dev", key)
    sealed = crypto.device_seal(key, "dev", 1, b'{"msg_type":1}')
    assert sec.open(sealed) == (b'{"msg_type":1}', "dev")
    assert crypto.device_open(key, ch.seal(b"out")) == b"out"
    assert ch.seal(b"out") != ch.seal(b"out")  # a fresh nonce every time


def test_gcm_rejects_tampering_replay_wrong_key_and_unknown_devices() -> None:
    key = crypto.new_key()
    sec = crypto.UdpSecurity(gcm=True)
    sec.channel("dev", key)
    sealed = crypto.device_seal(key, "dev", 5, b"x")
    sec.open(sealed)
    with pytest.raises(crypto.Replayed):
        sec.open(sealed)
    bad = bytearray(crypto.device_seal(key, "dev", 6, b"x"))
    bad[-3] ^= 0x40
    with pytest.raises(crypto.Forged, match="failed authentication"):
        sec.open(bytes(bad))
    with pytest.raises(crypto.Forged):
        sec.open(crypto.device_seal(crypto.new_key(), "dev", 7, b"x"))
    with pytest.raises(crypto.Forged, match="has no gcm key"):
        sec.open(crypto.device_seal(key, "other", 1, b"x"))
    # the header is authenticated: naming another device with this key fails
    sec.channel("other", crypto.new_key())
    with pytest.raises(crypto.Forged):
        sec.open(crypto.device_seal(key, "other", 2, b"x"))
    with pytest.raises(crypto.Forged):
        sec.open(b"\xa5")
    # a datagram that failed authentication does not burn its counter
    assert sec.open(crypto.device_seal(key, "dev", 6, b"y")) == (b"y", "dev")


def test_cbc_matches_the_aesel_format() -> None:
    key_hex, iv_hex = "00" * 32, "01" * 16
    codec = crypto.CbcCodec(bytes.fromhex(key_hex), bytes.fromhex(iv_hex))
    sealed = codec.seal(b'{"msg_type":1}')
    raw = base64.b64decode(sealed)
    assert len(raw) == 16  # 14 bytes + PKCS#7 padding to one block
    assert codec.open(sealed) == b'{"msg_type":1}'
    with pytest.raises(crypto.Forged, match="not base64"):
        codec.open(b"{plain json}")
    with pytest.raises(crypto.Forged, match="multiple of 16"):
        codec.open(base64.b64encode(b"short"))


def test_cbc_key_text_encodings() -> None:
    text = "F5C18B3E" * 8
    assert crypto.cbc_key_bytes(text, 32, "hex") == bytes.fromhex(text)
    assert crypto.cbc_key_bytes(text, 32, "raw") == text.encode()[:32]
    with pytest.raises(ValueError, match="expected 32"):
        crypto.cbc_key_bytes("ab" * 8, 32, "hex")
