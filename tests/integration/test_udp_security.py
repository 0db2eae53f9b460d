"""UDP encryption over real sockets: AES-256-GCM per device, AES-256-CBC as Aesel had it."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from aesel.app import Node
from aesel.config import Settings
from aesel.udp import crypto
from tests.conftest import Device, UdpPeer, register

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
    key = await new_object(shttp)
    for d, k in ((a, ka), (b, kb)):
        created = orjson.loads(crypto.device_open(k, await raw(d)))
        assert created["key"] == key
    event = orjson.dumps({"msg_type": 1, "key": key, "scene": "s", "transform": T})
    sealed = crypto.device_seal(ka, "a", 1, event)
    a.send(sealed)
    got = orjson.loads(crypto.device_open(kb, await raw(b)))
    assert got["transform"] == T
    await raw(a)  # the sender gets its own event too, as in Aesel

    tampered = bytearray(crypto.device_seal(ka, "a", 2, event))
    tampered[-1] ^= 1
    a.send(bytes(tampered))
    a.send(sealed)  # replayed
    a.send(crypto.device_seal(kb, "a", 3, event))  # the wrong key
    a.send({"msg_type": 1, "key": key, "scene": "s", "device": "a", "transform": T})  # plain
    # a good datagram after the bad ones proves they were handled (and dropped) first
    a.send(crypto.device_seal(ka, "a", 4, event))
    assert orjson.loads(crypto.device_open(kb, await raw(b)))["transform"] == T
    drops = node.services.drops
    assert (drops["forged"], drops["replayed"], drops["unauthenticated"]) == (2, 1, 1)
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
