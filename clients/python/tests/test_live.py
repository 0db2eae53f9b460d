"""The SDK against a real ``aesel serve`` process: REST, assets, streaming, UDP, auth."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aesel_client import (
    AsyncClient,
    Event,
    NotFound,
    Snapshot,
    Stream,
    StreamError,
    UdpDevice,
    Unauthorized,
)
from aesel_client.sync import Client
from aesel_client.wire import Message
from tests.conftest import ADMIN_PASSWORD, Server

pytestmark = pytest.mark.integration


def at(x: float, y: float = 0.0, z: float = 0.0) -> list[float]:
    return [1, 0, 0, x, 0, 1, 0, y, 0, 0, 1, z, 0, 0, 0, 1]


@pytest.fixture
async def api(server: Server) -> AsyncIterator[AsyncClient]:
    """A client, with the scene ``s`` created."""
    async with AsyncClient(server.url) as c:
        await c.create_scene("scene s", key="s")
        yield c


async def test_rest_round_trip_and_typed_errors(api: AsyncClient) -> None:
    scene = await api.create_scene("demo", key="s1", tags=["a"])
    assert scene["key"] == "s1" and (await api.get_scene("s1"))["tags"] == ["a"]
    assert [s["key"] for s in await api.query_scenes(name="demo")] == ["s1"]
    obj = await api.create_object("s1", "cube", transform=at(1, 2, 3))
    got = await api.get_object("s1", obj["key"])
    assert got["transform"] == at(1, 2, 3) and got["name"] == "cube"
    assert (await api.update_object("s1", obj["key"], name="box"))["name"] == "box"
    assert [o["key"] for o in await api.query_objects("s1")] == [obj["key"]]
    prop = await api.create_property("s1", "speed", [1.5])
    await api.update_property("s1", prop["key"], values=[2.5])
    assert (await api.get_property("s1", prop["key"]))["values"] == [2.5]
    reg = await api.register("s1", "dev1", "127.0.0.1", 9)
    assert reg["devices"][0]["key"] == "dev1"
    await api.deregister("s1", "dev1")
    await api.delete_object("s1", obj["key"])
    with pytest.raises(NotFound) as e:
        await api.get_object("s1", obj["key"])
    assert e.value.err_code == 102 and e.value.status == 404 and obj["key"] in e.value.err_msg
    with pytest.raises(NotFound):
        await api.get_scene("nope")


async def test_assets_stream_up_and_down(api: AsyncClient, tmp_path: Path) -> None:
    chunk = bytes(range(256)) * 1024

    async def body() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield chunk

    asset = await api.upload_asset(body(), name="blob", file_type="bin")
    n = await api.download_asset(asset, tmp_path / "out.bin")
    assert n == 8 * len(chunk) and (tmp_path / "out.bin").read_bytes() == chunk * 8
    src = tmp_path / "in.bin"
    src.write_bytes(b"hello")
    other = await api.upload_asset(src)
    assert b"".join([c async for c in api.iter_asset(other)]) == b"hello"
    await api.delete_asset(other)
    with pytest.raises(NotFound):
        await api.download_asset(other, tmp_path / "gone.bin")


@pytest.mark.parametrize("fmt", ["json", "binary"])
async def test_stream_snapshot_then_udp_updates_reach_the_mirror(
    server: Server, api: AsyncClient, fmt: str
) -> None:
    cube = (await api.create_object("s", "cube", transform=at(1)))["key"]
    async with Stream(server.ws_url, format=fmt) as stream:  # type: ignore[arg-type]
        mirror = await stream.subscribe("s")
        assert mirror.objects[cube].transform[3] == 1.0
        async with await UdpDevice.open("127.0.0.1", server.udp_port) as udp:
            for x in range(2, 12):
                udp.send_transform("s", cube, at(x))
            await stream.wait_for(lambda: mirror.objects[cube].transform[3] == 11.0)
        # REST changes stream too: a new object, then a delete
        ball = (await api.create_object("s", "ball", transform=at(0, 5)))["key"]
        await stream.wait_for(lambda: ball in mirror.objects)
        assert mirror.objects[ball].transform[7] == 5.0
        await api.delete_object("s", ball)
        await stream.wait_for(lambda: ball not in mirror.objects)
        items = []
        while not stream._queue.empty():
            items.append(stream._queue.get_nowait())
        assert isinstance(items[0], Snapshot)
        seqs = [i.seq for i in items if isinstance(i, Event)]
        assert seqs == list(range(items[0].seq + 1, items[0].seq + 1 + len(seqs)))
        assert stream.resyncs == 0


class LossyStream(Stream):
    """Loses the next live frame once ``lose`` is set (as a slow-consumer coalescing would)."""

    lose = False

    def _decode(self, raw: str | bytes) -> list[Message]:
        messages = super()._decode(raw)
        if self.lose and any(isinstance(m, Event) for m in messages):
            self.lose = False
            return []
        return messages


async def test_a_gap_triggers_a_resync_and_the_mirror_catches_up(
    server: Server, api: AsyncClient
) -> None:
    cube = (await api.create_object("s", "cube", transform=at(0)))["key"]
    async with (
        LossyStream(server.ws_url) as stream,
        await UdpDevice.open("127.0.0.1", server.udp_port) as udp,
    ):
        mirror = await stream.subscribe("s")
        stream.lose = True
        udp.send_transform("s", cube, at(1))  # lost
        await stream.wait_for(lambda: not stream.lose)
        udp.send_transform("s", cube, at(2))  # seq jumps: resync, and the snapshot has x=2
        await stream.wait_for(lambda: mirror.snapshots == 2 and mirror.synced)
        assert stream.resyncs == 1
        assert mirror.objects[cube].transform[3] == 2.0
        udp.send_transform("s", cube, at(3))
        await stream.wait_for(lambda: mirror.objects[cube].transform[3] == 3.0)
        assert stream.resyncs == 1


async def test_server_restart_reconnects_and_resubscribes(server: Server) -> None:
    async with AsyncClient(server.url) as api:
        await api.create_scene("scene s", key="s")
        cube = (await api.create_object("s", "cube", transform=at(1)))["key"]
    async with Stream(server.ws_url, min_backoff=0.05, max_backoff=0.5) as stream:
        mirror = await stream.subscribe("s")
        epoch = mirror.epoch
        await asyncio.to_thread(server.stop)
        await stream.wait_for(lambda: stream.state == "reconnecting")
        assert mirror.objects[cube].transform[3] == 1.0  # the last state stays readable
        await asyncio.to_thread(server.start)
        await stream.wait_for(lambda: stream.connects == 2 and mirror.synced)
        assert mirror.epoch != epoch and stream.state == "open"
        async with await UdpDevice.open("127.0.0.1", server.udp_port) as udp:
            udp.send_transform("s", cube, at(7))
            await stream.wait_for(lambda: mirror.objects[cube].transform[3] == 7.0)


async def test_interest_radius_and_inbound_updates(server: Server, api: AsyncClient) -> None:
    near = (await api.create_object("s", "near", transform=at(1)))["key"]
    far = (await api.create_object("s", "far", transform=at(100)))["key"]
    async with Stream(server.ws_url) as stream:
        mirror = await stream.subscribe("s", center=(0, 0, 0), radius=10)
        assert set(mirror.objects) == {near}
        await stream.send_transform("s", far, at(2))  # inbound over the WebSocket, into range
        await stream.wait_for(lambda: far in mirror.objects)
        await stream.send_transform("s", near, at(50))  # out of range: dropped from the mirror
        await stream.wait_for(lambda: near not in mirror.objects)
        assert (await api.get_object("s", near))["transform"] == at(50)
        assert stream.resyncs == 0


async def test_udp_device_receives_the_fan_out(server: Server, api: AsyncClient) -> None:
    cube = (await api.create_object("s", "cube"))["key"]
    async with await UdpDevice.open("127.0.0.1", server.udp_port) as dev:
        await api.register("s", "d1", "127.0.0.1", dev.port)
        dev.send_transform("s", cube, at(4))
        got = await dev.recv(timeout=5)
        assert got["key"] == cube and got["transform"] == at(4)


async def test_auth_login_token_and_refused_stream(auth_server: Server) -> None:
    async with AsyncClient(auth_server.url) as api:
        with pytest.raises(Unauthorized) as e:
            await api.create_scene("x")
        assert e.value.status == 401
        with pytest.raises(Unauthorized):
            await api.login("admin", "wrong")
        await api.login("admin", ADMIN_PASSWORD)
        await api.create_scene("x", key="s")
        api.token = "expired-or-forged"  # renewed by logging in again with the kept credentials
        assert (await api.get_scene("s"))["key"] == "s"
        await api.create_scene("private", key="p", public=False)
        await api.sign_up("bob", "bob-pw", "bob@example.org")
    async with AsyncClient(auth_server.url) as bob:
        await bob.login("bob", "bob-pw")
        async with Stream(auth_server.ws_url, token=bob.token) as stream:
            with pytest.raises(NotFound):
                await stream.subscribe("p")  # another user's private scene
            assert (await stream.subscribe("s")).synced
    async with AsyncClient(auth_server.url) as api:
        await api.login("admin", ADMIN_PASSWORD)
        async with Stream(auth_server.ws_url, token=api.token) as stream:
            assert (await stream.subscribe("s")).synced
        async with Stream(auth_server.ws_url, token="forged") as bad:
            with pytest.raises(StreamError):
                await bad.subscribe("s")


def readme_blocks() -> list[str]:
    text = (Path(__file__).parent.parent / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, re.S)


@pytest.mark.parametrize("block", [0, 1])
def test_readme_example_runs(server: Server, block: int) -> None:
    out = run_readme_block(server, block)
    assert ("cube at x = 2.0" in out) if block == 0 else out.startswith("(1.0,")


def test_readme_gcm_example_runs(gcm_server: Server) -> None:
    assert "opened: x = 3.0" in run_readme_block(gcm_server, 2)


def run_readme_block(server: Server, block: int) -> str:
    code = readme_blocks()[block]
    assert len([line for line in code.splitlines() if line.strip()]) <= 15
    code = (code.replace(":8080", f":{server.http_port}").replace(":8081", f":{server.ws_port}")
            .replace("8762", str(server.udp_port)))  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_sync_facade_mirror_follows_udp(server: Server) -> None:
    with Client(server.url) as c:
        scene = c.create_scene("demo")["key"]
        cube = c.create_object(scene, "cube", transform=at(1))["key"]
        mirror = c.watch(server.ws_url, scene)
        assert mirror.objects[cube].transform[3] == 1.0
        c.send_transform("127.0.0.1", server.udp_port, scene, cube, at(9))
        end = time.monotonic() + 10
        while mirror.objects[cube].transform[3] != 9.0:
            assert time.monotonic() < end, "the mirror never saw the update"
            time.sleep(0.01)
