"""UDP encryption over real sockets: AES-256-GCM per device, AES-256-CBC as Aesel had it."""

from __future__ import annotations

import asyncio
import base64
import re
import signal
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from aesel.app import Node
from aesel.config import Settings
from aesel.storage.embedded import SqliteStore
from aesel.udp import crypto
from tests.conftest import AeselProcess, Device, UdpPeer, register, stop_aesel, wait_until

pytestmark = pytest.mark.integration

IN_KEY = "F5C18B3E" * 8  # 64 hex digits, as in Aesel's sample configuration
IN_IV = "8753A1B2" * 4
OUT_KEY = "7134C0DE" * 8
OUT_IV = "545D9A0F" * 4
T = [1.0, 0.0, 0.0, 5.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]


@pytest.fixture(params=["gcm+cbc"])
async def secure_node(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Node]:
    s = Settings(
        http_port=0, udp_port=0, ws_port=0, data_dir=tmp_path / "data", udp_security=request.param,
        aes_in_key=IN_KEY, aes_in_iv=IN_IV, aes_out_key=OUT_KEY, aes_out_iv=OUT_IV,
    )  # fmt: skip
    n = Node(s)
    await n.start()
    yield n
    await n.stop()
    for d in DEVICES:
        d.transport.close()
    DEVICES.clear()


DEVICES: list[Device] = []


@pytest.fixture
async def shttp(secure_node: Node) -> AsyncIterator[httpx.AsyncClient]:
    url = f"http://127.0.0.1:{secure_node.http_port}"
    async with httpx.AsyncClient(base_url=url, timeout=10) as c:
        yield c


async def udp_device(node: Node) -> Device:
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(UdpPeer, local_addr=("127.0.0.1", 0))
    DEVICES.append(Device(transport, peer, 0, ("", 0)))
    return Device(
        transport, peer, transport.get_extra_info("sockname")[1], ("127.0.0.1", node.udp_port)
    )


async def raw(dev: Device, within: float = 2.0) -> bytes:
    return await asyncio.wait_for(dev.peer.queue.get(), within)


def cbc_reference(key_hex: str, iv_hex: str, plain: bytes) -> bytes:
    """Aesel's wire format, written independently: Base64(AES-256-CBC(PKCS#7(plain)))."""
    p = padding.PKCS7(128).padder()
    enc = Cipher(
        algorithms.AES(bytes.fromhex(key_hex)), modes.CBC(bytes.fromhex(iv_hex))
    ).encryptor()
    return base64.b64encode(enc.update(p.update(plain) + p.finalize()) + enc.finalize())


def cbc_reference_open(key_hex: str, iv_hex: str, data: bytes) -> bytes:
    dec = Cipher(
        algorithms.AES(bytes.fromhex(key_hex)), modes.CBC(bytes.fromhex(iv_hex))
    ).decryptor()
    u = padding.PKCS7(128).unpadder()
    padded = dec.update(base64.b64decode(data)) + dec.finalize()
    return u.update(padded) + u.finalize()


async def new_object(http: httpx.AsyncClient) -> str:
    r = await http.post("/v1/scene/s/object", json={"objects": [{"name": "o", "scene": "s"}]})
    key: str = r.json()["objects"][0]["key"]
    return key


@pytest.mark.parametrize("secure_node", ["gcm"], indirect=True)
async def test_gcm_round_trip_and_rejection_of_tampered_and_replayed_datagrams(
    secure_node: Node, shttp: httpx.AsyncClient
) -> None:
    node = secure_node
    a, b = await udp_device(node), await udp_device(node)
    ra = await register(shttp, "s", a, "a", encryption="gcm")
    rb = await register(shttp, "s", b, "b", encryption="gcm")
    ka, kb = base64.b64decode(ra["gcm_key"]), base64.b64decode(rb["gcm_key"])
    assert len(ka) == 32 and ka != kb
    assert ra["scenes"][0]["devices"][0]["encryption"] == "gcm"
    ca, cb = crypto.DeviceChannel(ka, "a"), crypto.DeviceChannel(kb, "b")
    key = await new_object(shttp)
    for d, ch in ((a, ca), (b, cb)):
        created = orjson.loads(ch.open(await raw(d)))
        assert created["key"] == key
    event = orjson.dumps({"msg_type": 1, "key": key, "scene": "s", "transform": T})
    sealed = ca.seal(event)
    a.send(sealed)
    got = orjson.loads(cb.open(await raw(b)))
    assert got["transform"] == T
    await raw(a)  # the sender gets its own event too, as in Aesel

    tampered = bytearray(ca.seal(event))
    tampered[-1] ^= 1
    a.send(bytes(tampered))
    a.send(sealed)  # replayed
    a.send(crypto.DeviceChannel(kb, "a").seal(event))  # the wrong key
    a.send({"msg_type": 1, "key": key, "scene": "s", "device": "a", "transform": T})  # plain
    a.send(b"\xa5\x01a" + sealed[4:])  # another framing version
    # a good datagram after the bad ones proves they were handled (and dropped) first
    a.send(ca.seal(event))
    assert orjson.loads(cb.open(await raw(b)))["transform"] == T
    drops = node.services.drops
    assert (drops["forged"], drops["replayed"], drops["unauthenticated"]) == (2, 1, 1)
    assert drops["gcm_version"] == 1
    with pytest.raises(TimeoutError):  # nothing else came through
        await raw(b, 0.2)


async def test_gcm_needs_the_node_to_allow_it(http: httpx.AsyncClient, make_device: Any) -> None:
    dev = await make_device()
    body = {
        "scenes": [
            {
                "key": "s",
                "devices": [
                    {"key": "d", "hostname": "127.0.0.1", "port": dev.port, "encryption": "gcm"}
                ],
            }
        ]
    }
    r = await http.post("/v1/scene/s/register", json=body)
    assert r.status_code == 400
    assert "gcm is off" in r.json()["err_msg"]


async def test_cbc_is_compatible_with_the_aesel_format(
    secure_node: Node, shttp: httpx.AsyncClient
) -> None:
    node = secure_node
    a, b = await udp_device(node), await udp_device(node)
    r = await register(shttp, "s", a, "a")
    assert (r["encryption_key"], r["encryption_iv"]) == (IN_KEY, IN_IV)
    assert (r["decryption_key"], r["decryption_iv"]) == (OUT_KEY, OUT_IV)
    assert r["event_destination_port"] == node.udp_port
    await register(shttp, "s", b, "b")
    key = await new_object(shttp)
    for d in (a, b):
        assert orjson.loads(cbc_reference_open(OUT_KEY, OUT_IV, await raw(d)))["key"] == key
    event = orjson.dumps({"msg_type": 1, "key": key, "scene": "s", "transform": T})
    a.send(cbc_reference(IN_KEY, IN_IV, event))
    out = await raw(b)
    assert orjson.loads(cbc_reference_open(OUT_KEY, OUT_IV, out))["transform"] == T
    a.send(b"not base64 at all!")
    a.send(event)  # plaintext when CBC is on: not accepted
    a.send(cbc_reference(IN_KEY, IN_IV, event))
    await raw(b)
    assert node.services.drops["forged"] == 2


def _drops(url: str, reason: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    m = re.search(rf'^aesel_drops_total{{reason="{reason}"}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def _unsaved(url: str) -> float:
    """Streamed state not yet durable, replay floors included (``aesel_unsaved``)."""
    text = httpx.get(f"{url}/metrics").text
    m = re.search(r"^aesel_unsaved (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["clean", "kill-9"])
def test_gcm_across_a_node_restart_repeats_no_nonce_and_accepts_no_replay(
    aesel_process: Callable[..., AeselProcess], device_socket: socket.socket, sig: int
) -> None:
    device = device_socket
    p = aesel_process("--udp-security", "gcm")
    with httpx.Client(base_url=p.url) as c:
        dev = {"key": "d", "hostname": "127.0.0.1", "port": device.getsockname()[1]}
        body = {"scenes": [{"key": "s", "devices": [{**dev, "encryption": "gcm"}]}]}
        r = c.post("/v1/scene/s/register", json=body)
        r.raise_for_status()
        key = base64.b64decode(r.json()["gcm_key"])
        r = c.post("/v1/scene/s/object", json={"objects": [{"name": "o"}]})
        obj = r.json()["objects"][0]["key"]
    ch = crypto.DeviceChannel(key, "d")
    nonces: list[set[bytes]] = [set(), set()]

    def stream(node: AeselProcess, sender: crypto.DeviceChannel, x: float, run: int) -> bytes:
        t = [*T[:3], x, *T[4:]]
        sealed = sender.seal(
            orjson.dumps({"msg_type": 1, "key": obj, "scene": "s", "transform": t})
        )
        device.sendto(sealed, ("127.0.0.1", node.udp_port))
        echo = receive(run)
        assert orjson.loads(echo)["transform"] == t
        return sealed

    def receive(run: int) -> bytes:
        data = device.recvfrom(65536)[0]
        nonces[run].add(data[3:15])
        return ch.open(data)

    receive(0)  # the object's creation
    captured = [stream(p, ch, float(i), 0) for i in range(20)]
    if sig == signal.SIGKILL:  # what a kill -9 cannot replay is what was flushed
        wait_until(lambda: _unsaved(p.url) == 0)  # the store is locked while aesel runs
    err = stop_aesel(p, sig)
    assert sig == signal.SIGKILL or p.proc.returncode == 0, err

    p2 = aesel_process("--udp-security", "gcm", data_dir=p.data_dir)
    for sealed in captured:
        device.sendto(sealed, ("127.0.0.1", p2.udp_port))
    stream(p2, ch, 100.0, 1)  # (c) the device goes on after the node's restart...
    restarted = crypto.DeviceChannel(key, "d")  # ...and after its own
    for i in range(20):
        stream(p2, restarted, 200.0 + i, 1)
    assert _drops(p2.url, "replayed") == len(captured)  # (b)
    assert len(nonces[0]) == 21 and len(nonces[1]) == 21
    assert not nonces[0] & nonces[1]  # (a)
    stop_aesel(p2)


async def test_sqlite_replay_floors_only_rise_and_survive_reopening(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    await store.open()
    assert await store.replay_floors() == {}
    await store.advance_replay_floors({"a": 5, "b": 7})
    await store.advance_replay_floors({"a": 3, "b": 9, "c": 2**63 - 1})
    await store.advance_replay_floors({})
    await store.close()
    store = SqliteStore(tmp_path)
    await store.open()
    assert await store.replay_floors() == {"a": 5, "b": 9, "c": 2**63 - 1}
    await store.close()
