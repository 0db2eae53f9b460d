"""The pure parts of the cluster: Kafka records, stamps, device successors, cache following."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from aesel.cluster import wire
from aesel.cluster.membership import NodeInfo
from aesel.cluster.stamps import Stamps
from aesel.cluster.state import rendezvous
from aesel.model.codes import MsgType
from aesel.model.entities import Device, Object3D, ObjectAction
from aesel.model.event import TOUCH, Event


def test_event_records_round_trip_and_damaged_ones_are_refused() -> None:
    e = Event("s", 1, "k", {"msg_type": 1, "key": "k", "transform": [1.0] * 16}, 7, "node1")
    r = wire.decode_event(wire.encode_event(e, stamp=42, wall=99))
    assert (r.origin, r.scene, r.msg_type, r.key, r.stamp, r.wall) == ("node1", "s", 1, "k", 42, 99)
    assert r.payload == e.payload
    for bad in (b"", b"{", b"[2,1]", b'[1,"o","s",1,"k",1,1,[]]', b'[1,"o","s","1","k",1,1,{}]'):
        with pytest.raises(wire.BadRecord):
            wire.decode_event(bad)


def test_state_records_round_trip() -> None:
    info = NodeInfo("n1", "10.0.0.1", 8080, 8762, 8081, 12.5)
    beat = wire.decode_beat(wire.encode_beat(info, 123, 4))
    assert beat.info == info and beat.beat == 123 and beat.devices == 4
    d = Device(key="d", host="127.0.0.1", port=9, format="binary", encryption="gcm", user="u")
    m = tuple(float(i) for i in range(16))
    reg = wire.decode_reg(wire.encode_reg("n2", d, m))
    assert reg.owner == "n2" and reg.device == d and reg.m_sd == m
    assert wire.decode_reg(wire.encode_reg("n2", d, None)).m_sd is None
    assert wire.decode_scene(wire.encode_scene("u", False, True)) == ("u", False, True)
    with pytest.raises(wire.BadRecord):
        wire.decode_reg(b'{"owner":"n","device":{"key":"d"},"m_sd":[1,2]}')
    with pytest.raises(wire.BadRecord):
        wire.decode_beat(b'{"id":"n"}')


def test_stamps_order_each_object_and_converge_on_the_last_writer() -> None:
    now = [1_000]
    a, b = Stamps("a", clock=lambda: now[0]), Stamps("b", clock=lambda: now[0])
    sa = a.issue("k")  # both nodes change k at the same instant
    sb = b.issue("k")
    # each delivered its own first; then each sees the other's: both keep the same winner
    a_keeps_b = a.admit("k", sb, "b")
    b_keeps_a = b.admit("k", sa, "a")
    assert sa == sb and a_keeps_b and not b_keeps_a  # ("b" > "a") wins the tie on both
    assert b.stale == 1
    # an older change arriving late is dropped; a newer one passes
    assert not a.admit("k", sa - 5, "c")
    assert a.admit("k", sb + 1, "c")
    # a change made after seeing another node's is stamped after it, whatever the clock says
    assert a.issue("k") > sb + 1


def test_stamps_forget_old_keys_beyond_the_horizon() -> None:
    now = [0]
    s = Stamps("a", horizon=1.0, clock=lambda: now[0])
    for i in range(100):
        now[0] = i * 10**8  # 0.1 s apart
        s.issue(f"k{i}")
    assert len(s) <= 11


def test_rendezvous_picks_one_successor_the_same_everywhere_and_moves_few_devices() -> None:
    nodes = ["n1", "n2", "n3"]
    devices = [f"d{i}" for i in range(300)]
    first = {d: rendezvous(d, nodes) for d in devices}
    assert first == {d: rendezvous(d, list(reversed(nodes))) for d in devices}
    assert all(n in nodes for n in first.values())
    assert min(Counter(first.values()).values()) > 60  # spread over the nodes
    # when n3 goes, only its devices move
    after = {d: rendezvous(d, ["n1", "n2"]) for d in devices}
    assert all(after[d] == first[d] for d in devices if first[d] != "n3")


async def test_cache_follows_other_nodes_changes() -> None:
    from aesel.services.directory import SceneDirectory
    from aesel.services.objects import ObjectService

    class NoBus:
        def publish(self, event: Event) -> None: ...
        def last_seq(self, scene: str) -> int:
            return 0

        def touch(self, scene: str, key: str) -> None: ...

    class NoScenes:
        async def get_scene(self, key: str) -> None:
            return None

    class NoObjects:
        async def get_object(self, key: str) -> None:
            return None

        async def put_objects(self, values: object) -> None: ...

        async def delete_object(self, key: str) -> bool:
            return True

    objects = ObjectService(
        NoObjects(),  # type: ignore[arg-type]  # the cache alone
        SceneDirectory(NoScenes()),  # type: ignore[arg-type]
        NoBus(),
        Counter(),
        flush_interval=10,
    )
    table = objects.table
    act = ObjectAction(name="spin")
    o = Object3D(key="k", scene="s", name="cube", actions={"spin": act})
    table.put_streamed(o)  # cached and dirty
    moved = {
        "msg_type": 1,
        **o.model_copy(update={"transform": (2.0,) * 16}).to_json(actions=False),
    }
    objects.follow(Event("s", MsgType.OBJ_UPD, "k", moved, 1, "other"))
    got = table.peek("k")
    assert got is not None and got.transform == (2.0,) * 16
    assert got.actions == {"spin": act}  # an update without actions keeps them
    assert table._dirty["k"] == got  # the newer value is what the flusher writes
    # a touch (a lock elsewhere) and a change of actions evict: the store has them
    objects.follow(Event("s", TOUCH, "k", {}, 0, "other"))
    assert table.peek("k") is None and "k" not in table._dirty
    table.put_streamed(o)
    objects.follow(Event("s", MsgType.OBJ_ACTION_CRT, "k", {"msg_type": 19, "actions": [{}]}))
    assert table.peek("k") is None
    # a delete elsewhere: served as deleted
    table.put_streamed(o)
    objects.follow(Event("s", MsgType.OBJ_DEL, "k", {"msg_type": 3, "key": "k"}, 2, "other"))
    assert table.peek("k") is None and table.is_deleted("k")
    assert await table.get("k") is None
    # property events leave objects alone
    table.put_streamed(o.model_copy(update={"key": "k2"}))
    objects.follow(Event("s", MsgType.PROP_DEL, "k2", {}, 3, "other"))
    assert table.peek("k2") is not None
    await asyncio.sleep(0)
