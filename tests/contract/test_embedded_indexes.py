"""The embedded store answers scene, object and property queries from indexes, also on a
file made before the indexed columns existed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from aesel.model.entities import Object3D, Property, Scene
from aesel.storage.base import ObjectFilter, PropertyFilter, SceneFilter
from aesel.storage.embedded import SqliteStore
from aesel.storage.embedded.db import dump


def plan(path: Path, sql: str, *args: object) -> str:
    db = sqlite3.connect(path)
    try:
        return " ".join(str(r[-1]) for r in db.execute("EXPLAIN QUERY PLAN " + sql, args))
    finally:
        db.close()


async def test_an_older_file_gains_the_indexed_columns(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "aesel.db")
    old.execute("CREATE TABLE scenes (key TEXT PRIMARY KEY, doc BLOB NOT NULL)")
    s = Scene(key="s1", name="n", region="eu", user="u", public=False, latitude=1.0, longitude=2.0)
    old.execute("INSERT INTO scenes VALUES (?, ?)", ("s1", dump(s)))
    old.commit()
    old.close()
    store = SqliteStore(tmp_path)
    await store.open()
    try:
        assert await store.query_scenes(SceneFilter(name="n"), 0, 10) == [s]
        assert await store.query_scenes(SceneFilter(region="eu", see_all=False), 0, 10) == []
        near = SceneFilter(latitude=1.0, longitude=2.0, distance=10.0, principal="u")
        assert await store.query_scenes(near, 0, 10) == [s]
    finally:
        await store.close()
    again = SqliteStore(tmp_path)  # a second open adds nothing
    await again.open()
    await again.close()
    db = tmp_path / "aesel.db"
    assert "scenes_name" in plan(db, "SELECT doc FROM scenes WHERE name=? ORDER BY key", "n")
    assert "scenes_region" in plan(db, "SELECT doc FROM scenes WHERE region=?", "eu")
    box = "SELECT doc FROM scenes WHERE lat BETWEEN ? AND ? AND lon BETWEEN ? AND ?"
    assert "scenes_lat" in plan(db, box, 0, 1, 0, 1)


async def test_an_older_file_gains_parent_and_sub_id_columns(tmp_path: Path) -> None:
    """Objects and properties stored before ``parent`` and ``asset_sub_id`` were columns (they
    were expression indexes over the document) are found by them after an open, by index; a
    move rewrites only the document, a change of parent moves the row in the index."""
    old = sqlite3.connect(tmp_path / "aesel.db")
    for table in ("objects", "properties"):
        old.execute(
            f"CREATE TABLE {table} (key TEXT PRIMARY KEY, scene TEXT NOT NULL,"
            " name TEXT NOT NULL, doc BLOB NOT NULL)"
        )
        old.execute(
            f"CREATE INDEX {table}_parent ON {table}"
            "(COALESCE(json_extract(CAST(doc AS TEXT), '$.parent'), ''))"
        )
    child = Object3D(key="c", scene="s", name="child", parent="p", asset_sub_id="a1")
    loose = Object3D(key="l", scene="s", name="loose")
    for o in (child, loose):
        old.execute("INSERT INTO objects VALUES (?,?,?,?)", (o.key, o.scene, o.name, dump(o)))
    prop = Property(key="q", scene="s", name="prop", parent="p")
    old.execute("INSERT INTO properties VALUES (?,?,?,?)", ("q", "s", "prop", dump(prop)))
    old.commit()
    old.close()
    store = SqliteStore(tmp_path)
    await store.open()
    try:
        assert await store.query_objects([ObjectFilter(parent="p")], 10) == [child]
        assert await store.query_objects([ObjectFilter(asset_sub_id="a1")], 10) == [child]
        assert await store.query_properties([PropertyFilter(parent="p")], 10) == [prop]
        moved = child.with_transform(tuple(float(i) for i in range(16)))
        await store.put_objects([moved])
        assert await store.get_object("c") == moved
        assert await store.query_objects([ObjectFilter(parent="p")], 10) == [moved]
        adopted = moved.model_copy(update={"parent": "other"})
        await store.put_objects([adopted, Object3D(key="n", scene="s", parent="p")])
        assert [o.key for o in await store.query_objects([ObjectFilter(parent="p")], 10)] == ["n"]
        assert await store.query_objects([ObjectFilter(parent="other")], 10) == [adopted]
    finally:
        await store.close()
    again = SqliteStore(tmp_path)  # a second open changes nothing
    await again.open()
    assert await again.query_objects([ObjectFilter(parent="other")], 10) == [adopted]
    await again.close()
    db = tmp_path / "aesel.db"
    assert "objects_by_parent" in plan(db, "SELECT doc FROM objects WHERE parent=?", "p")
    with sqlite3.connect(db) as check:
        names = {r[0] for r in check.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "objects_parent" not in names and "properties_parent" not in names
