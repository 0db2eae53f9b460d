"""The core store contract (aesel.storage.base) on every backend: objects and properties on
the embedded store and MongoDB, the scene graph on the embedded store and Neo4j."""

from __future__ import annotations

import asyncio
import math
import random
from typing import Any

import pytest

from aesel.errors import Conflict
from aesel.model import transform as tf
from aesel.model.entities import (
    Device,
    DeviceTransform,
    GraphHandle,
    Object3D,
    ObjectAction,
    ObjectFrame,
    Property,
    PropertyAction,
    PropertyFrame,
    PropertyValue,
    Registration,
    Scene,
)
from aesel.storage.base import (
    EARTH_DIAMETER_M,
    ObjectFilter,
    PropertyFilter,
    SceneFilter,
    distance_m,
)


def full_object(key: str, **kw: Any) -> Object3D:
    """An object with every field set, actions and keyframes included."""
    frame = ObjectFrame(
        frame=3,
        owner="dev",
        transform=tuple(float(i) for i in range(16)),
        translation_handle=(GraphHandle(left_type="AUTO", left_x=1.5), 2.0),
        rotation_handle=(0.5,),
    )
    action = ObjectAction(name="walk.cycle$1", description="d", owner="o", keyframes={3: frame})
    fields: dict[str, Any] = dict(
        key=key, scene="s1", name="cube", type="mesh", subtype="box", owner="",
        parent="p", asset_sub_id="sub", assets=("a1", "a2"),
        transform=tf.translation(1, 2, 3), actions={action.name: action},
    )  # fmt: skip
    return Object3D(**{**fields, **kw})


def full_property(key: str, **kw: Any) -> Property:
    frame = PropertyFrame(frame=1, owner="o", values=(PropertyValue(value=2.5, left_x=1.0),))
    action = PropertyAction(name="fade", keyframes={1: frame})
    fields: dict[str, Any] = dict(
        key=key, scene="s1", name="alpha", parent="obj", asset_sub_id="x",
        values=(1.0, 2.0), actions={"fade": action},
    )  # fmt: skip
    return Property(**{**fields, **kw})


# -- objects ----------------------------------------------------------------------------------


async def test_object_round_trips_every_field(objects: Any) -> None:
    o = full_object("k1")
    await objects.put_objects([o])
    assert await objects.get_object("k1") == o
    assert await objects.get_object("missing") is None


async def test_put_objects_is_an_idempotent_upsert(objects: Any) -> None:
    o = full_object("k1")
    await objects.put_objects([o])
    await objects.put_objects([o])
    newer = o.model_copy(update={"name": "sphere", "transform": tf.translation(9, 9, 9)})
    await objects.put_objects([newer])
    assert await objects.get_object("k1") == newer
    assert await objects.query_objects([ObjectFilter()], 10) == [newer]


async def test_a_batch_writes_every_object_and_the_last_copy_of_a_key_wins(objects: Any) -> None:
    batch = [full_object(f"k{i:03}") for i in range(200)]
    await objects.put_objects([*batch, batch[0].model_copy(update={"name": "last"})])
    got = await objects.query_objects([ObjectFilter(scene="s1")], 1000)
    assert len(got) == 200
    assert got[0].name == "last"
    await objects.put_objects([])  # an empty batch is a no-op


async def test_delete_object(objects: Any) -> None:
    await objects.put_objects([full_object("k1")])
    assert await objects.delete_object("k1") is True
    assert await objects.delete_object("k1") is False
    assert await objects.get_object("k1") is None


async def test_object_queries_filter_every_field(objects: Any) -> None:
    await objects.put_objects(
        [
            full_object("a", scene="s1", name="n1", type="t1", owner="dev1"),
            full_object("b", scene="s1", name="n2", type="t2", parent="q", assets=("a1",)),
            full_object("c", scene="s2", name="n1", subtype="st", asset_sub_id="z"),
            full_object("d", scene="s2", name="n3", assets=("a2", "a1")),
        ]
    )

    async def keys(*filters: ObjectFilter, limit: int = 100) -> list[str]:
        return [o.key for o in await objects.query_objects(list(filters), limit)]

    assert await keys(ObjectFilter(scene="s1")) == ["a", "b"]
    assert await keys(ObjectFilter(name="n1")) == ["a", "c"]
    assert await keys(ObjectFilter(scene="s2", name="n1")) == ["c"]
    assert await keys(ObjectFilter(type="t2")) == ["b"]
    assert await keys(ObjectFilter(subtype="st")) == ["c"]
    assert await keys(ObjectFilter(owner="dev1")) == ["a"]
    assert await keys(ObjectFilter(parent="q")) == ["b"]
    assert await keys(ObjectFilter(asset_sub_id="z")) == ["c"]
    # one asset id: "contains"; several: the exact list, in order
    assert await keys(ObjectFilter(assets=("a1",))) == ["a", "b", "c", "d"]
    assert await keys(ObjectFilter(assets=("a2",))) == ["a", "c", "d"]
    assert await keys(ObjectFilter(assets=("a1", "a2"))) == ["a", "c"]
    assert await keys(ObjectFilter(assets=("a2", "a1"))) == ["d"]
    # several filters: any of them, each match once
    several = ObjectFilter(name="n3"), ObjectFilter(type="t1"), ObjectFilter(scene="s2")
    assert await keys(*several) == ["a", "c", "d"]
    assert await keys(ObjectFilter(scene="nope")) == []
    assert await keys() == []


async def test_object_query_limit_is_exact_and_ordered_by_key(objects: Any) -> None:
    keys = [f"{i:04}" for i in range(50)]
    await objects.put_objects([full_object(k, name="even" if i % 2 else "odd") for i, k in
                               reversed(list(enumerate(keys)))])  # fmt: skip
    got = await objects.query_objects([ObjectFilter(scene="s1")], 7)
    assert [o.key for o in got] == keys[:7]
    got = await objects.query_objects([ObjectFilter(name="odd")], 5)
    assert [o.key for o in got] == keys[0:10:2]
    assert len(await objects.query_objects([ObjectFilter()], 1000)) == 50


async def test_object_and_property_queries_agree_with_the_reference_filters(
    objects: Any,
) -> None:
    """Random stores and filters: each query answers what ``ObjectFilter.matches`` and
    ``PropertyFilter.matches`` say, by key, limited (the filters are pushed into the backend)."""
    rnd = random.Random(8)
    pick = lambda *xs: rnd.choice(xs)  # noqa: E731
    stored = [
        full_object(f"o{i:03}", scene=pick("s1", "s2"), name=pick("n1", "n2", "n3"),
                    type=pick("t1", "t2"), subtype=pick("", "u"), owner=pick("", "dev"),
                    parent=pick("", "o000"), asset_sub_id=pick("", "x"),
                    assets=tuple(rnd.sample(["a1", "a2", "a3"], rnd.randint(0, 2))))
        for i in range(120)
    ]  # fmt: skip
    props = [full_property(f"p{i:03}", scene=pick("s1", "s2"), name=pick("n1", "n2"),
                           parent=pick("", "o001"), asset_sub_id=pick("", "x"))
             for i in range(60)]  # fmt: skip
    await objects.put_objects(stored)
    await objects.put_properties(props)
    for _ in range(25):
        filters = [
            ObjectFilter(scene=pick(None, "s1"), name=pick(None, "n2"), type=pick(None, "t1"),
                         subtype=pick(None, "u"), owner=pick(None, "dev", ""),
                         parent=pick(None, "o000"), asset_sub_id=pick(None, "x"),
                         assets=pick(None, ("a1",), ("a2", "a1"), ("a3", "a2")))
            for _ in range(rnd.randint(1, 3))
        ]  # fmt: skip
        limit = rnd.choice((1, 5, 1000))
        want = [o.key for o in stored if any(f.matches(o) for f in filters)][:limit]
        assert [o.key for o in await objects.query_objects(filters, limit)] == want, filters
        pf = [PropertyFilter(scene=pick(None, "s2"), name=pick(None, "n1"),
                             parent=pick(None, "o001"), asset_sub_id=pick(None, "x"))
              for _ in range(rnd.randint(1, 2))]  # fmt: skip
        want = [p.key for p in props if any(f.matches(p) for f in pf)][:limit]
        assert [p.key for p in await objects.query_properties(pf, limit)] == want, pf


async def test_batch_reads_by_key(objects: Any) -> None:
    await objects.put_objects([full_object(k) for k in ("c", "a", "b")])
    await objects.put_properties([full_property(k) for k in ("y", "x")])
    assert [o.key for o in await objects.get_objects(["c", "nope", "a", "c"])] == ["a", "c"]
    assert await objects.get_objects([]) == []
    assert [p.key for p in await objects.get_properties(["y", "x", "z"])] == ["x", "y"]
    assert await objects.get_properties([]) == []


async def test_an_older_version_never_overwrites_a_newer_one(objects: Any) -> None:
    v1, v2, v3 = (full_object("k1", name=n) for n in ("one", "two", "three"))
    assert await objects.put_objects_versioned([(v2, 2)]) == []
    assert await objects.put_objects_versioned([(v1, 1), (full_object("k2"), 1)]) == ["k1"]
    assert await objects.get_object("k1") == v2
    assert await objects.put_objects_versioned([(v2, 2)]) == ["k1"]  # same version: a no-op
    taken = await objects.swap_object_owner("k1", "", "dev")  # a lock keeps the version
    assert await objects.put_objects_versioned([(v1, 1)]) == ["k1"]
    assert await objects.get_object("k1") == taken
    assert await objects.put_objects_versioned([(v3, 3)]) == []
    assert await objects.get_object("k1") == v3
    assert (await objects.get_object("k2")).key == "k2"
    await objects.put_objects([v1])  # an unversioned write stores version 0
    assert await objects.put_objects_versioned([(v2, 1)]) == []
    assert await objects.get_object("k1") == v2
    racing = await asyncio.gather(
        *(objects.put_objects_versioned([(full_object("k3", name=str(v)), v)]) for v in (5, 9, 7))
    )
    assert sum(r == [] for r in racing) >= 1
    assert (await objects.get_object("k3")).name == "9"
    p1, p2 = full_property("p1", values=(1.0,)), full_property("p1", values=(2.0,))
    assert await objects.put_properties_versioned([(p2, 2)]) == []
    assert await objects.put_properties_versioned([(p1, 1)]) == ["p1"]
    assert await objects.get_property("p1") == p2


async def test_lock_is_a_compare_and_set(objects: Any) -> None:
    o = full_object("k1", owner="")
    await objects.put_objects([o])
    taken = await objects.swap_object_owner("k1", "", "dev1")
    assert taken == o.model_copy(update={"owner": "dev1"})
    assert await objects.get_object("k1") == taken
    assert await objects.swap_object_owner("k1", "", "dev2") is None  # held by dev1
    assert await objects.swap_object_owner("nope", "", "dev2") is None
    assert (await objects.swap_object_owner("k1", "dev1", "")).owner == ""
    results = await asyncio.gather(
        *(objects.swap_object_owner("k1", "", f"dev{i}") for i in range(5))
    )
    assert sum(r is not None for r in results) == 1


# -- properties -------------------------------------------------------------------------------


async def test_property_round_trip_upsert_delete(objects: Any) -> None:
    p = full_property("p1")
    await objects.put_properties([p])
    await objects.put_properties([p])
    assert await objects.get_property("p1") == p
    assert await objects.get_property("nope") is None
    newer = p.model_copy(update={"values": (3.0,)})
    await objects.put_properties([newer])
    assert await objects.get_property("p1") == newer
    assert await objects.delete_property("p1") is True
    assert await objects.delete_property("p1") is False


async def test_property_queries(objects: Any) -> None:
    await objects.put_properties(
        [
            full_property("a", scene="s1", name="n1", parent="o1"),
            full_property("b", scene="s1", name="n2", asset_sub_id="q"),
            full_property("c", scene="s2", name="n1", parent="o1"),
        ]
    )

    async def keys(*filters: PropertyFilter, limit: int = 100) -> list[str]:
        return [p.key for p in await objects.query_properties(list(filters), limit)]

    assert await keys(PropertyFilter(scene="s1")) == ["a", "b"]
    assert await keys(PropertyFilter(name="n1", parent="o1")) == ["a", "c"]
    assert await keys(PropertyFilter(asset_sub_id="q")) == ["b"]
    assert await keys(PropertyFilter(scene="s2"), PropertyFilter(name="n2")) == ["b", "c"]
    assert await keys(PropertyFilter(), limit=2) == ["a", "b"]


# -- GCM replay floors ------------------------------------------------------------------------


async def test_replay_floors_only_rise(objects: Any) -> None:
    assert await objects.replay_floors() == {}
    await objects.advance_replay_floors({"k1": 10, "k2": 5})
    await objects.advance_replay_floors({"k1": 7, "k2": 6})
    await objects.advance_replay_floors({})
    assert await objects.replay_floors() == {"k1": 10, "k2": 6}
    await asyncio.gather(*(objects.advance_replay_floors({"k3": n}) for n in (3, 9, 1)))
    assert (await objects.replay_floors())["k3"] == 9


# -- scenes -----------------------------------------------------------------------------------


def scene(key: str, **kw: Any) -> Scene:
    return Scene(key=key, **kw)


async def test_scene_round_trips_every_field_and_upserts(scenes: Any) -> None:
    s = Scene(
        key="s1", name="n", description="d", thumbnail="t", region="r", user="u1",
        active=False, public=False, latitude=45.5, longitude=-122.25,
        assets=("a1", "a2"), tags=("x", "y"),
    )  # fmt: skip
    await scenes.put_scene(s)
    await scenes.put_scene(s)
    assert await scenes.get_scene("s1") == s
    newer = s.model_copy(update={"name": "m", "latitude": None, "longitude": None})
    await scenes.put_scene(newer)
    assert await scenes.get_scene("s1") == newer
    assert await scenes.get_scene("nope") is None


async def test_insert_scene_refuses_an_existing_key(scenes: Any) -> None:
    await scenes.insert_scene(scene("s1", name="first"))
    with pytest.raises(Conflict):
        await scenes.insert_scene(scene("s1", name="second"))
    assert (await scenes.get_scene("s1")).name == "first"


async def test_concurrent_inserts_of_one_key_have_one_winner(scenes: Any) -> None:
    results = await asyncio.gather(
        *(scenes.insert_scene(scene("s1", name=f"n{i}")) for i in range(5)),
        return_exceptions=True,
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if r is not None)


async def test_insert_scene_after_a_registration_made_the_key_known(scenes: Any) -> None:
    """A registration or link naming a scene that was never stored does not make it exist."""
    await scenes.put_registration(Registration(scene="s9", device="d1"))
    assert await scenes.get_scene("s9") is None
    assert await scenes.query_scenes(SceneFilter(), 0, 10) == []
    await scenes.insert_scene(scene("s9"))
    assert await scenes.get_scene("s9") == scene("s9")


async def test_delete_scene_takes_its_registrations_and_links_but_not_devices(scenes: Any) -> None:
    for k in ("s1", "s2", "s3"):
        await scenes.put_scene(scene(k))
    await scenes.put_device(Device(key="d1"))
    await scenes.put_registration(Registration(scene="s1", device="d1"))
    await scenes.put_registration(Registration(scene="s2", device="d1"))
    await scenes.put_link("s1", "s2", DeviceTransform(translation=(1, 0, 0)))
    await scenes.put_link("s2", "s3", DeviceTransform(translation=(0, 1, 0)))
    assert await scenes.delete_scene("s1") is True
    assert await scenes.delete_scene("s1") is False
    assert await scenes.get_scene("s1") is None
    assert await scenes.get_device("d1") == Device(key="d1")
    assert [r.scene for r in await scenes.registrations(device="d1")] == ["s2"]
    assert [(a, b) for a, b, _ in await scenes.links()] == [("s2", "s3")]


async def test_scene_query_filters(scenes: Any) -> None:
    await scenes.put_scene(scene("a", name="n1", region="eu", tags=("x", "y"), user="u1"))
    await scenes.put_scene(scene("b", name="n2", region="eu", public=False, user="u1"))
    await scenes.put_scene(scene("c", name="n1", region="us", public=False, user="u2"))
    await scenes.put_scene(scene("d", tags=("y",)))

    async def keys(f: SceneFilter, start: int = 0, limit: int = 100) -> list[str]:
        return [s.key for s in await scenes.query_scenes(f, start, limit)]

    assert await keys(SceneFilter()) == ["a", "b", "c", "d"]
    assert await keys(SceneFilter(key="b")) == ["b"]
    assert await keys(SceneFilter(name="n1")) == ["a", "c"]
    assert await keys(SceneFilter(region="eu")) == ["a", "b"]
    assert await keys(SceneFilter(public=False)) == ["b", "c"]
    assert await keys(SceneFilter(public=True)) == ["a", "d"]
    assert await keys(SceneFilter(tags=("y",))) == ["a", "d"]
    assert await keys(SceneFilter(tags=("x", "y"))) == ["a"]
    assert await keys(SceneFilter(tags=("x", "z"))) == []
    # visibility: public ones, plus the principal's own, unless see_all
    assert await keys(SceneFilter(see_all=False)) == ["a", "d"]
    assert await keys(SceneFilter(see_all=False, principal="u1")) == ["a", "b", "d"]
    assert await keys(SceneFilter(see_all=False, principal="u2", name="n1")) == ["a", "c"]


async def test_scene_query_pages_exactly_by_key(scenes: Any) -> None:
    keys = [f"s{i:03}" for i in range(30)]
    for i, k in reversed(list(enumerate(keys))):
        await scenes.put_scene(scene(k, public=i % 3 != 0))
    visible = [k for i, k in enumerate(keys) if i % 3 != 0]
    f = SceneFilter(see_all=False)
    assert [s.key for s in await scenes.query_scenes(f, 0, 5)] == visible[:5]
    assert [s.key for s in await scenes.query_scenes(f, 5, 5)] == visible[5:10]
    assert [s.key for s in await scenes.query_scenes(f, 18, 5)] == visible[18:]
    assert await scenes.query_scenes(f, 100, 5) == []


def offset_north(lat: float, lon: float, metres: float) -> tuple[float, float]:
    return lat + math.degrees(2 * metres / EARTH_DIAMETER_M), lon


def offset_east(lat: float, lon: float, metres: float) -> tuple[float, float]:
    """The point ``metres`` east along the parallel (a little less on the great circle)."""
    dlon = math.degrees(2 * metres / EARTH_DIAMETER_M / math.cos(math.radians(lat)))
    return lat, (lon + dlon + 180) % 360 - 180


@pytest.mark.parametrize(
    ("lat", "lon"), [(45.0, 7.0), (-33.9, 151.2), (0.0, 179.9999), (89.99, 10.0)]
)
async def test_geo_radius_is_haversine_metres_with_an_exclusive_edge(
    scenes: Any, lat: float, lon: float
) -> None:
    points = {
        "north": offset_north(lat, lon, 1000),
        "east": offset_east(lat, lon, 700),
        "far": offset_north(lat, lon, -5000),
    }
    for key, (la, lo) in points.items():
        await scenes.put_scene(scene(key, latitude=la, longitude=lo))
    await scenes.put_scene(scene("nowhere"))
    d = {k: distance_m(lat, lon, la, lo) for k, (la, lo) in points.items()}

    async def within(metres: float) -> list[str]:
        f = SceneFilter(latitude=lat, longitude=lon, distance=metres)
        return [s.key for s in await scenes.query_scenes(f, 0, 100)]

    near = max(d["north"], d["east"])
    assert await within(near * (1 + 1e-9)) == ["east", "north"]
    edge = sorted(d, key=d.__getitem__)
    assert await within(d[edge[0]]) == []  # exclusive: exactly at the distance is out
    assert await within(d[edge[0]] * (1 + 1e-9)) == [edge[0]]
    assert await within(d["far"] * (1 + 1e-9)) == ["east", "far", "north"]
    assert await within(0) == ["east", "far", "north", "nowhere"]  # no distance: no geo filter


# -- devices, registrations, links ------------------------------------------------------------


async def test_device_round_trips_every_field(scenes: Any) -> None:
    d = Device(
        key="d1", hostname="h", host="127.0.0.1", port=5000, connection_string="c",
        format="binary", encryption="gcm", gcm_key="a2V5",
    )  # fmt: skip
    await scenes.put_device(d)
    await scenes.put_device(d)
    assert await scenes.get_device("d1") == d
    await scenes.put_device(d.model_copy(update={"port": 5001}))
    assert (await scenes.get_device("d1")).port == 5001
    assert await scenes.get_device("nope") is None


async def test_registrations_filter_and_order(scenes: Any) -> None:
    t = DeviceTransform(translation=(1, 2, 3), rotation=(0.1, 0.2, 0.3))
    for s in ("s2", "s1"):
        await scenes.put_scene(scene(s))
        for d in ("d2", "d1"):
            await scenes.put_registration(Registration(scene=s, device=d, transform=t))
    pairs = [(r.scene, r.device) for r in await scenes.registrations()]
    assert pairs == [("s1", "d1"), ("s1", "d2"), ("s2", "d1"), ("s2", "d2")]
    assert [r.device for r in await scenes.registrations(scene="s1")] == ["d1", "d2"]
    assert [r.scene for r in await scenes.registrations(device="d1")] == ["s1", "s2"]
    assert await scenes.registrations(scene="s1", device="d2") == [
        Registration(scene="s1", device="d2", transform=t)
    ]
    moved = Registration(scene="s1", device="d2", transform=DeviceTransform())
    await scenes.put_registration(moved)
    assert await scenes.registrations(scene="s1", device="d2") == [moved]
    assert await scenes.delete_registration("s1", "d2") is True
    assert await scenes.delete_registration("s1", "d2") is False
    assert len(await scenes.registrations()) == 3


async def test_registrations_with_devices_in_one_call(scenes: Any) -> None:
    d1, d2 = Device(key="d1", port=1), Device(key="d2", port=2)
    await scenes.put_device(d1)
    await scenes.put_device(d2)
    for s, d in (("s2", "d1"), ("s1", "d2"), ("s1", "d1"), ("s1", "ghost")):
        await scenes.put_registration(Registration(scene=s, device=d))
    got = await scenes.registrations_with_devices()
    assert [(r.scene, r.device, dev) for r, dev in got] == [
        ("s1", "d1", d1), ("s1", "d2", d2), ("s2", "d1", d1),
    ]  # fmt: skip
    assert [r.device for r, _ in await scenes.registrations_with_devices(scene="s1")] == [
        "d1", "d2",
    ]  # fmt: skip
    assert [r.scene for r, _ in await scenes.registrations_with_devices(device="d1")] == [
        "s1", "s2",
    ]  # fmt: skip


async def test_ping(scenes: Any, objects: Any, catalog: Any) -> None:
    for store in (scenes, objects, catalog):
        await store.ping()


async def test_one_link_per_pair(scenes: Any) -> None:
    t1 = DeviceTransform(translation=(1, 0, 0))
    t2 = DeviceTransform(translation=(2, 0, 0), rotation=(0, 0, 0.5))
    await scenes.put_link("a", "b", t1)
    await scenes.put_link("a", "b", t1)
    assert await scenes.links() == [("a", "b", t1)]
    await scenes.put_link("b", "a", t2)  # replaces a -> b
    assert await scenes.links() == [("b", "a", t2)]


async def test_path_composes_links_along_the_shortest_chain(scenes: Any) -> None:
    ab = DeviceTransform(translation=(1, 0, 0), rotation=(0, 0, 0.3))
    bc = DeviceTransform(translation=(0, 2, 0), rotation=(0.2, 0, 0))
    dc = DeviceTransform(translation=(0, 0, 3))
    await scenes.put_link("a", "b", ab)
    await scenes.put_link("b", "c", bc)
    await scenes.put_link("d", "c", dc)  # walked backwards from c
    await scenes.put_link("x", "y", ab)  # another component
    m_ac = tf.matmul(bc.matrix(), ab.matrix())
    assert tf.close(await scenes.path_transform("a", "b"), ab.matrix())
    assert tf.close(await scenes.path_transform("b", "a"), tf.inverse(ab.matrix()))
    assert tf.close(await scenes.path_transform("a", "c"), m_ac)
    assert tf.close(await scenes.path_transform("a", "d"), tf.matmul(tf.inverse(dc.matrix()), m_ac))
    assert tf.close(
        await scenes.path_transform("d", "a"), tf.inverse(tf.matmul(tf.inverse(dc.matrix()), m_ac))
    )
    assert await scenes.path_transform("a", "x") is None
    assert await scenes.path_transform("a", "nowhere") is None
    assert await scenes.path_transform("a", "a") == tf.IDENTITY
    # a shortcut wins over the longer chain
    ad = DeviceTransform(translation=(5, 5, 5))
    await scenes.put_link("a", "d", ad)
    assert tf.close(await scenes.path_transform("a", "d"), ad.matrix())


async def test_neo4j_reads_of_what_does_not_exist_yet_log_nothing(
    engines: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A new database has no labels, relationship types or property keys yet, and Neo4j warns
    of each one a query names: one log line per read until the first write. Those are asked
    off; a query's other notifications (deprecations, performance) still come."""
    from aesel.storage.neo4j import Neo4jSceneStore

    s = Neo4jSceneStore(engines.urls["AESEL_NEO4J_URL"])
    await s.open()
    try:
        with caplog.at_level("INFO", logger="neo4j.notifications"):
            # a label and a property key that no aesel store ever writes, through its driver
            await s._driver.execute_query("MATCH (n:NeverWritten) RETURN n.never_written")  # type: ignore[union-attr]
        assert [r.getMessage() for r in caplog.records if r.name == "neo4j.notifications"] == []
    finally:
        await s.close()
