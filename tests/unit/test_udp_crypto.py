"""GCM and CBC, without sockets."""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aesel.udp import crypto
from aesel.udp.floors import ReplayFloors

T0 = 1_780_000_000_000_000  # a sequence: microseconds since the epoch, late 2026


def test_replay_window_accepts_each_sequence_once_within_64() -> None:
    w = crypto.ReplayWindow()
    assert [w.accept(n) for n in (1, 3, 2, 70, 3, 70)] == [True, True, True, True, False, False]
    assert w.accept(69) and not w.accept(6)  # 6 is more than 64 below the highest, 70
    assert w.accept(1000) and w.top == 1000 and not w.accept(936) and w.accept(937)


def test_replay_window_refuses_everything_at_or_below_its_floor() -> None:
    w = crypto.ReplayWindow(floor=T0)
    assert not w.accept(T0) and not w.accept(T0 - 1) and not w.accept(0)
    assert w.accept(T0 + 2) and w.accept(T0 + 1) and not w.accept(T0 + 1)


def test_sequencer_is_strictly_increasing_microseconds_even_when_the_clock_is_not() -> None:
    ticks = iter([T0 * 1000, T0 * 1000, T0 * 1000 - 5_000_000, T0 * 1000 + 3_000_000])
    seq = crypto.Sequencer(clock=lambda: next(ticks))
    assert [seq.next() for _ in range(4)] == [T0, T0 + 1, T0 + 2, T0 + 3000]


def test_nonces_are_a_random_prefix_and_a_counter_redrawn_before_it_wraps() -> None:
    src = crypto.NonceSource()
    a, b = src.next(), src.next()
    assert len(a) == 12 and a[:8] == b[:8] and (a[8:], b[8:]) == (b"\0\0\0\0", b"\0\0\0\1")
    src._count = 2**32 - 1  # fast-forward to the last count of this prefix
    last, first = src.next(), src.next()
    assert last == a[:8] + b"\xff\xff\xff\xff"
    assert first[:8] != a[:8] and first[8:] == b"\0\0\0\0"


def test_wire_layout_both_ways() -> None:
    """The bytes of docs/realtime.md section 4, checked with AESGCM alone."""
    key = crypto.new_key()
    sec = crypto.UdpSecurity(gcm=True)
    ch = sec.channel("dev", key)
    out = ch.seal(b"out")
    assert out[:3] == b"\xa5\x02\x00" and len(out) == 3 + 12 + 8 + 3 + 16
    plain = AESGCM(key).decrypt(out[3:15], out[15:], out[:3])
    assert plain[8:] == b"out" and struct.unpack(">Q", plain[:8])[0] > T0

    header = b"\xa5\x02\x03dev"
    nonce = bytes(range(12))
    data = header + nonce + AESGCM(key).encrypt(nonce, struct.pack(">Q", T0) + b"in", header)
    assert sec.open(data) == (b"in", "dev")
    assert crypto.device_seal(key, "dev", T0 + 1, b"x")[:6] == header


def test_gcm_round_trip_both_ways() -> None:
    key = crypto.new_key()
    sec = crypto.UdpSecurity(gcm=True)
    ch = sec.channel("dev", key)
    dev = crypto.DeviceChannel(key, "dev")
    for payload in (b'{"msg_type":1}', b"", b"x" * 1200):
        assert sec.open(dev.seal(payload)) == (payload, "dev")
        assert dev.open(ch.seal(payload)) == payload
    assert ch.seal(b"out") != ch.seal(b"out")  # a fresh nonce every time
    seq, payload = crypto.device_open(key, ch.seal(b"out"))
    assert payload == b"out" and seq > dev.window.top


def test_gcm_refuses_tampering_replay_wrong_keys_and_unknown_devices() -> None:
    key = crypto.new_key()
    sec = crypto.UdpSecurity(gcm=True)
    sec.channel("dev", key)
    sealed = crypto.device_seal(key, "dev", T0 + 5, b"x")
    sec.open(sealed)
    with pytest.raises(crypto.Replayed, match=f"sequence {T0 + 5} from device 'dev'"):
        sec.open(sealed)
    with pytest.raises(crypto.Replayed):  # the same sequence under a new nonce
        sec.open(crypto.device_seal(key, "dev", T0 + 5, b"x"))
    bad = bytearray(crypto.device_seal(key, "dev", T0 + 6, b"x"))
    bad[-3] ^= 0x40
    with pytest.raises(crypto.Forged, match="failed authentication"):
        sec.open(bytes(bad))
    with pytest.raises(crypto.Forged):
        sec.open(crypto.device_seal(crypto.new_key(), "dev", T0 + 7, b"x"))
    with pytest.raises(crypto.Forged, match="has no gcm key"):
        sec.open(crypto.device_seal(key, "other", T0 + 1, b"x"))
    # the header is authenticated: naming another device with this key fails
    sec.channel("other", crypto.new_key())
    with pytest.raises(crypto.Forged):
        sec.open(crypto.device_seal(key, "other", T0 + 2, b"x"))
    for short in (b"\xa5", b"\xa5\x02\x03dev", crypto.device_seal(key, "dev", T0, b"")[:-1]):
        with pytest.raises(crypto.Forged):
            sec.open(short)
    with pytest.raises(crypto.Forged, match="above 2"):
        sec.open(crypto.device_seal(key, "dev", 2**63, b"x"))
    # a datagram that failed authentication does not burn its sequence
    assert sec.open(crypto.device_seal(key, "dev", T0 + 6, b"y")) == (b"y", "dev")


def test_gcm_refuses_reflected_datagrams_both_ways() -> None:
    key = crypto.new_key()
    sec = crypto.UdpSecurity(gcm=True)
    ch = sec.channel("dev", key)
    dev = crypto.DeviceChannel(key, "dev")
    with pytest.raises(crypto.Forged, match="names device ''"):
        sec.open(ch.seal(b"from the node"))
    with pytest.raises(crypto.Forged, match="expected one from the server"):
        dev.open(dev.seal(b"from the device"))
    sealed = ch.seal(b"once")
    assert dev.open(sealed) == b"once"
    with pytest.raises(crypto.Replayed):
        dev.open(sealed)


def test_gcm_counts_the_first_framing_and_unknown_versions_apart() -> None:
    key = crypto.new_key()
    sec = crypto.UdpSecurity(gcm=True)
    sec.channel("dev-0001", key)
    # aesel's first framing: A5 | key length | key | 00000001 | counter u64 | ciphertext + tag
    head = b"\xa5\x08dev-0001"
    nonce = b"\0\0\0\1" + struct.pack(">Q", 1)
    first = head + nonce + AESGCM(key).encrypt(nonce, b"{}", head)
    with pytest.raises(crypto.UnsupportedVersion, match="framing version 8, expected 2") as e:
        sec.open(first)
    assert e.value.reason == "gcm_version"
    with pytest.raises(crypto.UnsupportedVersion, match="version 3"):
        sec.open(b"\xa5\x03" + crypto.device_seal(key, "dev-0001", T0, b"{}")[2:])


def test_two_nodes_sharing_a_key_never_use_the_same_nonce() -> None:
    """Two UdpSecurity instances: two nodes of a cluster, or one node before and after a restart."""
    key = crypto.new_key()
    seen: list[set[bytes]] = []
    for _ in range(2):
        ch = crypto.UdpSecurity(gcm=True).channel("dev", key)
        seen.append({ch.seal(b"same payload")[3:15] for _ in range(2000)})
    assert len(seen[0]) == len(seen[1]) == 2000
    assert not seen[0] & seen[1]
    assert {n[:8] for n in seen[0]}.isdisjoint(n[:8] for n in seen[1])  # their prefixes differ


def test_a_restarted_node_refuses_what_it_accepted_before_its_floor() -> None:
    key = crypto.new_key()
    before = crypto.UdpSecurity(gcm=True)
    before.channel("dev", key)
    dev = crypto.DeviceChannel(key, "dev")
    captured = [dev.seal(b"%d" % i) for i in range(3)]
    for d in captured:
        before.open(d)
    marks = before.unsaved_floors()
    assert marks == {crypto.key_id(key): dev.sequencer.last}
    before.floors.update(marks)  # what ReplayFloors does once the store has them
    assert before.unsaved_floors() == {}

    after = crypto.UdpSecurity(gcm=True)
    after.floors.update(marks)  # loaded from the store at start
    after.channel("dev", key)
    for d in captured:
        with pytest.raises(crypto.Replayed):
            after.open(d)
    assert after.unsaved_floors() == {}  # refusals do not raise the floor
    restarted = crypto.DeviceChannel(key, "dev")  # the device restarted too: a new sequence
    assert after.open(restarted.seal(b"fresh")) == (b"fresh", "dev")
    assert after.unsaved_floors() == {crypto.key_id(key): restarted.sequencer.last}
    # a new key for the device starts with no floor
    assert after.channel("dev", other := crypto.new_key()).window.top == 0
    assert after.open(crypto.device_seal(other, "dev", T0, b"x")) == (b"x", "dev")


class MemoryFloors:
    def __init__(self) -> None:
        self.floors: dict[str, int] = {}
        self.writes = 0

    async def replay_floors(self) -> dict[str, int]:
        return dict(self.floors)

    async def advance_replay_floors(self, marks: Mapping[str, int]) -> None:
        self.writes += 1
        for k, v in marks.items():
            self.floors[k] = max(v, self.floors.get(k, 0))


async def test_replay_floors_load_at_start_and_save_what_rose() -> None:
    key = crypto.new_key()
    store = MemoryFloors()
    store.floors[crypto.key_id(key)] = T0
    sec = crypto.UdpSecurity(gcm=True)
    floors = ReplayFloors(sec, store, interval=3600)
    await floors.start()
    sec.channel("dev", key)
    with pytest.raises(crypto.Replayed):
        sec.open(crypto.device_seal(key, "dev", T0, b"x"))
    assert await floors.save() == 0 and store.writes == 0
    sec.open(crypto.device_seal(key, "dev", T0 + 9, b"x"))
    assert await floors.save() == 1 and store.floors[crypto.key_id(key)] == T0 + 9
    assert await floors.save() == 0
    sec.open(crypto.device_seal(key, "dev", T0 + 10, b"x"))
    await floors.stop()  # saves once more
    assert store.floors[crypto.key_id(key)] == T0 + 10 and store.writes == 2


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
