"""``aesel migrate`` copies every entity of an embedded data dir into MongoDB and Neo4j, and a
second run copies nothing new."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from aesel import migrate
from aesel.model import recording as rec
from aesel.model import transform as tf
from aesel.model.catalog import AssetCollection, AssetMeta, Project, User, new_id
from aesel.model.entities import Device, DeviceTransform, Object3D, Property, Registration, Scene
from aesel.storage.base import RecordingInfo
from aesel.storage.catalog import RelationshipFilter
from aesel.storage.embedded import SqliteStore
from aesel.storage.embedded.catalog import FileBlobs, SqliteCatalog
from aesel.storage.embedded.recordings import FileRecordings
from aesel.storage.mongo import MongoBlobStore, MongoCatalogStore, MongoObjectStore
from aesel.storage.mongo.recordings import MongoRecordings
from aesel.storage.neo4j import Neo4jSceneStore
from tests.contract.test_catalog import read_all, rel
from tests.engines import Engines, drop_database, mongo_url

pytestmark = pytest.mark.integration


async def populate(data_dir: Path) -> dict[str, Any]:
    store, catalog, blobs = SqliteStore(data_dir), SqliteCatalog(data_dir), FileBlobs(data_dir)
    for s in (store, catalog, blobs):
        await s.open()
    objects = [
        Object3D(key=f"o{i}", scene="s1", transform=tf.translation(i, 0, 0)) for i in range(3)
    ]
    await store.put_objects(objects)
    await store.put_properties([Property(key="p1", scene="s1", values=(1.0,))])
    await store.advance_replay_floors({"kid": 41})
    await store.put_scene(Scene(key="s1", latitude=1.0, longitude=2.0))
    await store.put_scene(Scene(key="s2", public=False, user="u"))
    await store.put_device(Device(key="d1", port=9))
    await store.put_registration(Registration(scene="s1", device="d1"))
    await store.put_link("s1", "s2", DeviceTransform(translation=(1, 2, 3)))
    a1, a2 = AssetMeta(key=new_id(), name="a"), AssetMeta(key=new_id(), name="a")
    data = os.urandom(300_000)
    for meta in (a1, a2):
        up = blobs.begin()
        await up.write(data)
        await up.commit(meta.key)
    await catalog.put_asset(a1, rel(a1.key, "s1"))
    history = await catalog.add_version(a1.key, a2)
    await catalog.put_collection(AssetCollection(id=new_id(), name="c", tags=("t",)))
    await catalog.put_project(Project(id=new_id(), name="p"))
    await catalog.create_user(User(id=new_id(), username="ann", password_hash="h", email="a@x"))
    for s in (store, catalog):
        await s.close()
    files = FileRecordings(data_dir)
    recording = rec.start(rec.Meta("r1", "s1", 7)) + rec.event(5, {"msg_type": 1, "key": "o1"})
    await files.create_recording(RecordingInfo("r1", "s1", 7, 0, True), recording)
    await files.finish_recording("r1")
    unfinished = rec.start(rec.Meta("r2", "s1", 8)) + rec.event(1, {"msg_type": 1, "key": "o2"})
    await files.create_recording(RecordingInfo("r2", "s1", 8, 0, True), unfinished)
    await files.append_recording("r2", rec.event(2, {"msg_type": 1})[:9])  # torn by a crash
    os.close(files._open.pop("r2"))
    return {
        "objects": objects,
        "a2": a2,
        "data": data,
        "history": history,
        "rec": recording,
        "unfinished": unfinished,
    }


async def test_migrate_copies_everything_once(
    engines: Engines, tmp_path: Path, capsys: Any
) -> None:
    made = await populate(tmp_path / "data")
    url, neo = mongo_url(engines), engines.urls["AESEL_NEO4J_URL"]
    scenes = Neo4jSceneStore(neo)
    await scenes.open()
    await scenes.clear()
    await scenes.close()
    try:
        args = ["--from", str(tmp_path / "data"), "--mongo-url", url, "--neo4j-url", neo]
        assert await asyncio.to_thread(migrate.main, args) == 0
        first = capsys.readouterr().out
        assert "objects                  3         3" in first
        assert "asset bytes              2         2" in first

        objects, catalog, blobs = MongoObjectStore(url), MongoCatalogStore(url), MongoBlobStore(url)
        recordings = MongoRecordings(url, owner="test")
        for s in (objects, catalog, blobs, recordings, scenes):
            await s.open()
        try:
            assert await objects.get_objects(["o0", "o1", "o2"]) == made["objects"]
            assert await objects.replay_floors() == {"kid": 41}
            assert (await scenes.get_scene("s2")).user == "u"
            assert [r.device for r, _ in await scenes.registrations_with_devices()] == ["d1"]
            assert tf.close(await scenes.path_transform("s2", "s1"),
                            tf.translation(-1, -2, -3))  # fmt: skip
            a2 = made["a2"]
            assert await catalog.get_asset(a2.key) == a2
            assert await read_all(blobs, a2.key) == made["data"]
            assert await catalog.histories(a2.key) == [made["history"]]
            rels = await catalog.query_relationships(RelationshipFilter(), 0, 10)
            assert [r.asset_id for r in rels] == [a2.key]
            assert (await catalog.user_by_name("ann")).email == "a@x"
            assert await catalog.count_users() == 1
            assert await recordings.read_recording("r1") == made["rec"]
            assert await recordings.read_recording("r2") == made["unfinished"]  # whole records
            assert [(i.id, i.scene, i.active) for i in await recordings.recordings()] == [
                ("r1", "s1", False),
                ("r2", "s1", False),
            ]
        finally:
            for s in (objects, catalog, blobs, recordings, scenes):
                await s.close()

        assert await asyncio.to_thread(migrate.main, args) == 0  # again: nothing new
        lines = capsys.readouterr().out.splitlines()[1:]
        assert lines and all(line.split()[-1] == "0" for line in lines), lines
    finally:
        await drop_database(url)


def test_migrate_reports_an_unreachable_store_in_one_line(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "aesel.db").touch()
    args = ["--from", str(tmp_path), "--mongo-url", "mongodb://127.0.0.1:1/x",
            "--neo4j-url", "bolt://127.0.0.1:1", "--timeout", "0.5"]  # fmt: skip
    assert migrate.main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("aesel migrate: ") and "\n" not in err
