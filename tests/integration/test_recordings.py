"""Record a scene's events, replay them into a scene: REST, timing, pause/stop, loops, refusals,
and a crash of the real ``aesel serve`` while recording."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from aesel.app import Node
from aesel.model import recording as rec
from aesel.model.event import Event
from aesel.storage.base import RecordingInfo
from tests.catalog_helpers import ADMIN, login, running
from tests.conftest import AeselProcess, stop_aesel, wait_until

IDENTITY = [1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0]


def at(x: float) -> list[float]:
    return [*IDENTITY[:3], x, *IDENTITY[4:]]


async def until(cond: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def scene(http: httpx.AsyncClient, key: str) -> None:
    r = await http.put(f"/v1/scene/{key}", json={"scenes": [{"name": key}]})
    assert r.status_code == 200, r.text


def capture(node: Node, scene_key: str) -> list[tuple[float, Event]]:
    """Every event published to ``scene_key``, with the monotonic time it was published."""
    seen: list[tuple[float, Event]] = []

    def handler(e: Event) -> None:
        if e.scene == scene_key:
            seen.append((time.monotonic(), e))

    node.bus.subscribe(handler)
    return seen


async def stored(node: Node, scene_key: str, events: list[tuple[int, dict[str, Any]]]) -> str:
    """A recording of ``scene_key`` put straight into the node's store; returns its id."""
    info = RecordingInfo(f"made{len(events)}x{time.monotonic_ns()}", scene_key, 1, 0, True)
    body = b"".join(rec.event(t, p) for t, p in events)
    await node.recording_store.create_recording(
        info, rec.start(rec.Meta(info.id, scene_key, 1)) + body
    )
    await node.recording_store.finish_recording(info.id)
    return info.id


async def replay(http: httpx.AsyncClient, target: str, recording: str, **kw: Any) -> str:
    r = await http.post(f"/v1/scene/{target}/replays", json={"recording": recording, **kw})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def replay_state(http: httpx.AsyncClient, target: str, id: str) -> dict[str, Any]:
    r = await http.get(f"/v1/scene/{target}/replays")
    return next(x for x in r.json()["replays"] if x["id"] == id)


async def objects(http: httpx.AsyncClient, key: str) -> list[dict[str, Any]]:
    r = await http.post(f"/v1/scene/{key}/object/query", json={"objects": [{"scene": key}]})
    return list(r.json().get("objects", [])) if r.status_code == 200 else []


async def test_record_over_rest_then_replay_into_another_scene(
    node: Node, http: httpx.AsyncClient
) -> None:
    await scene(http, "src")
    await scene(http, "dst")
    r = await http.post("/v1/scene/src/recordings")
    assert r.status_code == 200, r.text
    rid = r.json()["id"]
    assert r.json()["recording"] is True
    made = await http.post(
        "/v1/scene/src/object", json={"objects": [{"name": "o", "transform": at(0)}]}
    )
    key = made.json()["objects"][0]["key"]
    for x in (1.0, 2.0, 3.0):
        await http.post(f"/v1/scene/src/object/{key}", json={"objects": [{"transform": at(x)}]})
    r = await http.post(f"/v1/scene/src/recordings/{rid}/stop")
    assert r.status_code == 200 and r.json()["recording"] is False, r.text
    listed = (await http.get("/v1/scene/src/recordings")).json()["recordings"]
    assert [x["id"] for x in listed] == [rid]

    data = (await http.get(f"/v1/scene/src/recordings/{rid}")).content
    meta, entries = rec.decode(data)
    assert meta.scene == "src"
    assert [e.payload["msg_type"] for e in entries] == [0, 1, 1, 1]
    assert [e.payload["transform"][3] for e in entries] == [0.0, 1.0, 2.0, 3.0]

    seen = capture(node, "dst")
    rp = await replay(http, "dst", rid, speed=10)
    await until(lambda: _done(http, "dst", rp))
    assert [e.payload["transform"][3] for _, e in seen] == [0.0, 1.0, 2.0, 3.0]
    assert [e.msg_type for _, e in seen] == [0, 1, 1, 1]
    [obj] = await objects(http, "dst")
    assert obj["key"] != key and obj["name"] == "o" and obj["transform"][3] == 3.0
    # the source is untouched, and deleting the recording removes it
    [src] = await objects(http, "src")
    assert src["key"] == key
    assert (await http.delete(f"/v1/scene/src/recordings/{rid}")).status_code == 200
    assert (await http.get(f"/v1/scene/src/recordings/{rid}")).status_code == 404
    assert (await http.get("/v1/scene/src/recordings")).json()["recordings"] == []


async def _done(http: httpx.AsyncClient, target: str, id: str) -> bool:
    return (await replay_state(http, target, id))["state"] == "done"


async def test_replay_into_the_same_scene_updates_the_recorded_objects(
    node: Node, http: httpx.AsyncClient
) -> None:
    await scene(http, "same")
    made = await http.post(
        "/v1/scene/same/object", json={"objects": [{"name": "o", "transform": at(0)}]}
    )
    key = made.json()["objects"][0]["key"]
    rid = await stored(node, "same", [(0, {"msg_type": 1, "key": key, "transform": at(5.0)})])
    rp = await replay(http, "same", rid)
    await until(lambda: _done(http, "same", rp))
    [obj] = await objects(http, "same")
    assert obj["key"] == key and obj["transform"][3] == 5.0


async def test_replay_keeps_order_and_spacing_scaled_by_speed(
    node: Node, http: httpx.AsyncClient
) -> None:
    await scene(http, "timed")
    ms = 1_000_000
    events = [(0, {"msg_type": 0, "key": "k", "name": "o", "transform": at(0)})]
    events += [(t * ms, {"msg_type": 1, "key": "k", "transform": at(i)}) for i, t in
               enumerate((100, 300, 700), 1)]  # fmt: skip
    rid = await stored(node, "timed", events)
    spans = {}
    for speed in (1.0, 4.0):
        seen = capture(node, "timed")
        rp = await replay(http, "timed", rid, speed=speed)
        await until(lambda rp=rp: _done(http, "timed", rp))  # type: ignore[misc]
        times = [t for t, _ in seen[-4:]]
        assert [e.payload["transform"][3] for _, e in seen[-4:]] == [0.0, 1.0, 2.0, 3.0]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # recorded gaps 100, 200, 400 ms: each twice the one before, whatever the speed
        assert 1.3 < gaps[1] / gaps[0] < 3.0 and 1.3 < gaps[2] / gaps[1] < 3.0, gaps
        spans[speed] = times[-1] - times[0]
    assert 2.5 < spans[1.0] / spans[4.0] < 6.0, spans


async def test_pause_resume_and_stop(node: Node, http: httpx.AsyncClient) -> None:
    await scene(http, "pp")
    ms = 1_000_000
    events = [(0, {"msg_type": 0, "key": "k", "name": "o", "transform": at(0)})]
    events += [
        (i * 50 * ms, {"msg_type": 1, "key": "k", "transform": at(i)}) for i in range(1, 400)
    ]
    rid = await stored(node, "pp", events)
    seen = capture(node, "pp")
    rp = await replay(http, "pp", rid)
    await until(lambda: _count(seen, 2))
    r = await http.post(f"/v1/scene/pp/replays/{rp}/pause")
    assert r.json()["state"] == "paused"
    n = len(seen)
    await asyncio.sleep(0.3)  # proving an absence: nothing is sent while paused
    assert len(seen) == n
    r = await http.post(f"/v1/scene/pp/replays/{rp}/resume")
    assert r.json()["state"] == "playing"
    await until(lambda: _count(seen, n + 2))
    r = await http.delete(f"/v1/scene/pp/replays/{rp}")
    assert r.json()["state"] == "done"
    stopped = len(seen)
    assert stopped < len(events)
    await asyncio.sleep(0.2)  # proving an absence: a stopped replay sends nothing more
    assert len(seen) == stopped


async def _count(seen: list[Any], n: int) -> bool:
    return len(seen) >= n


async def test_loop_replays_again_with_the_same_objects(
    node: Node, http: httpx.AsyncClient
) -> None:
    await scene(http, "loop")
    events = [
        (0, {"msg_type": 0, "key": "k", "name": "o", "transform": at(0)}),
        (2_000_000, {"msg_type": 1, "key": "k", "transform": at(1)}),
    ]
    rid = await stored(node, "loop", events)
    seen = capture(node, "loop")
    rp = await replay(http, "loop", rid, speed=10, loop=True)

    async def looped() -> bool:
        return int((await replay_state(http, "loop", rp))["loops"]) >= 3

    await until(looped)
    await http.delete(f"/v1/scene/loop/replays/{rp}")
    assert len(await objects(http, "loop")) == 1  # created once, updated on every loop
    xs = [e.payload["transform"][3] for _, e in seen]
    assert xs[:6] == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    assert len({e.key for _, e in seen}) == 1


@pytest.mark.parametrize("damage", ["truncate", "flip"])
async def test_a_damaged_recording_is_refused_before_any_event(
    node: Node, http: httpx.AsyncClient, damage: str
) -> None:
    await scene(http, "bad")
    events = [(i, {"msg_type": 0 if i == 0 else 1, "key": "k", "name": "o", "transform": at(i)})
              for i in range(5)]  # fmt: skip
    rid = await stored(node, "bad", events)
    store = node.recording_store
    data = bytearray(await store.read_recording(rid) or b"")
    if damage == "truncate":
        del data[-7:]
    else:
        data[len(data) // 2] ^= 0x01
    await store.delete_recording(rid)  # stored again, damaged, whatever the store
    await store.create_recording(RecordingInfo(rid, "bad", 1, 0, True), bytes(data))
    await store.finish_recording(rid)
    seen = capture(node, "bad")
    r = await http.post("/v1/scene/bad/replays", json={"recording": rid})
    assert r.status_code == 400, r.text
    assert "corrupt recording" in r.json()["err_msg"]
    assert ("truncated" if damage == "truncate" else "checksum") in r.json()["err_msg"]
    assert seen == [] and await objects(http, "bad") == []


async def test_bad_replay_requests(node: Node, http: httpx.AsyncClient) -> None:
    await scene(http, "req")
    r = await http.post("/v1/scene/req/replays", json={"recording": "nope"})
    assert r.status_code == 404
    rid = await stored(node, "req", [])
    for speed in (0.05, 11):
        r = await http.post("/v1/scene/req/replays", json={"recording": rid, "speed": speed})
        assert r.status_code == 400, r.text
    r = await http.post("/v1/scene/req/recordings/nope/stop")
    assert r.status_code == 404
    r = await http.post("/v1/scene/nosuchscene/recordings")
    assert r.status_code == 404


def test_kill_9_while_recording_loses_at_most_the_tail(
    aesel_process: Callable[..., AeselProcess], tmp_path: Path
) -> None:
    p = aesel_process("--flush-interval", "0.05")
    with httpx.Client(base_url=p.url, timeout=10) as http:
        http.put("/v1/scene/crash", json={"scenes": [{"name": "c"}]})
        rid = http.post("/v1/scene/crash/recordings").json()["id"]
        made = http.post(
            "/v1/scene/crash/object", json={"objects": [{"name": "o", "transform": at(0)}]}
        )
        key = made.json()["objects"][0]["key"]
        for i in range(1, 21):
            http.post(f"/v1/scene/crash/object/{key}", json={"objects": [{"transform": at(i)}]})
        part = p.data_dir / "recordings" / f"{rid}.part"

        def flushed() -> bool:
            data = part.read_bytes()
            return len(rec.decode(data[: rec.complete_prefix(data)])[1]) == 21

        wait_until(flushed)
    stop_aesel(p, signal.SIGKILL)
    with part.open("ab") as f:  # a write torn by the crash: half a record
        f.write(rec.event(1, {"msg_type": 1, "key": key})[:9])

    p2 = aesel_process(data_dir=p.data_dir)
    with httpx.Client(base_url=p2.url, timeout=10) as http:
        [info] = http.get("/v1/scene/crash/recordings").json()["recordings"]
        assert info["id"] == rid and info["recording"] is False
        meta, entries = rec.decode(http.get(f"/v1/scene/crash/recordings/{rid}").content)
        assert meta.scene == "crash"
        assert [e.payload.get("transform", [0] * 4)[3] for e in entries] == list(range(21))


def test_cli_records_and_replays_through_a_running_node(
    aesel_process: Callable[..., AeselProcess],
) -> None:
    p = aesel_process()

    def cli(*args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "aesel", *args, "--url", p.url],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    with httpx.Client(base_url=p.url, timeout=10) as http:
        http.put("/v1/scene/c1", json={"scenes": [{"name": "c1"}]})
        http.put("/v1/scene/c2", json={"scenes": [{"name": "c2"}]})
        rid = cli("record", "start", "c1")
        http.post("/v1/scene/c1/object", json={"objects": [{"name": "o", "transform": at(4)}]})
        assert json.loads(cli("record", "stop", "c1", rid))["recording"] is False
        assert [r["id"] for r in json.loads(cli("record", "list", "c1"))["recordings"]] == [rid]
        rp = cli("replay", "start", "c2", rid, "--speed", "10")

        def replayed() -> bool:
            found = http.post("/v1/scene/c2/object/query", json={"objects": [{"scene": "c2"}]})
            return found.status_code == 200 and len(found.json().get("objects", [])) == 1

        wait_until(replayed)
        assert rp in cli("replay", "list", "c2")
        bad = subprocess.run(
            [sys.executable, "-m", "aesel", "replay", "start", "c2", "nope", "--url", p.url],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert bad.returncode == 1 and "404" in bad.stderr


async def test_replaying_needs_read_on_the_recording_and_write_on_the_target(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, auth=True) as (_, http):
        admin = await login(http, *ADMIN)
        for name in ("alice", "bob"):
            await http.post("/users/sign-up", json={"username": name, "password": f"{name}-pw"},
                            headers=admin)  # fmt: skip
        alice, bob = await login(http, "alice", "alice-pw"), await login(http, "bob", "bob-pw")
        await http.put("/v1/scene/secret", json={"scenes": [{"public": False}]}, headers=alice)
        await http.put("/v1/scene/bobs", json={"scenes": [{"public": False}]}, headers=bob)
        rid = (await http.post("/v1/scene/secret/recordings", headers=alice)).json()["id"]
        await http.post(f"/v1/scene/secret/recordings/{rid}/stop", headers=alice)
        # bob may write his scene, but may not read alice's private recording
        r = await http.post("/v1/scene/bobs/replays", json={"recording": rid}, headers=bob)
        assert r.status_code == 404, r.text
        r = await http.get(f"/v1/scene/secret/recordings/{rid}", headers=bob)
        assert r.status_code == 404, r.text
        # alice may read it, but may not write bob's scene
        r = await http.post("/v1/scene/bobs/replays", json={"recording": rid}, headers=alice)
        assert r.status_code == 404, r.text
        r = await http.post("/v1/scene/secret/replays", json={"recording": rid}, headers=alice)
        assert r.status_code == 200, r.text
