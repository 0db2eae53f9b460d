"""The embedded store answers scene queries from indexes, also on a file made before the
indexed columns existed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from aesel.model.entities import Scene
from aesel.storage.base import SceneFilter
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
