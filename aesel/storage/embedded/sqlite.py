"""``SqliteStore``: the core server's store contracts on one SQLite file. Single node only.

The plumbing (one thread per file, WAL, ``synchronous=FULL``, error translation) is
:class:`aesel.storage.embedded.db.SqliteDb`.

Scene queries use indexes: the fields they filter on are virtual columns computed from the
JSON document (:data:`SCENE_COLUMNS`, added to older files at :meth:`SqliteStore.open`), so a
query by name, region or owner reads only its matches, and a distance query reads only the
scenes in its latitude/longitude box before the exact haversine test. Object and property
queries are one SQL query each, filters and limit included (:func:`_where`): by the
``(scene, name)``, ``parent`` or ``asset_sub_id`` index, the other fields tested by SQLite on the
document.

Streamed state is written behind, every object a device moves rewritten every flush interval
(thousands of rows a second), so that write is the cheap one: the indexed fields (``scene``,
``name``, ``parent``, ``asset_sub_id``) are plain columns, and a row whose indexed fields did
not change (a move changes only the transform) is one ``UPDATE`` of its document that touches
no index (:func:`_moved`); only a row that is new or changed an indexed field takes the upsert.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path

from aesel.model import transform as tf
from aesel.model.entities import (
    Device,
    DeviceTransform,
    Object3D,
    Property,
    Registration,
    Scene,
)
from aesel.storage.base import ObjectFilter, PropertyFilter, SceneFilter, shortest_chain
from aesel.storage.embedded.db import E, SqliteDb, dump, dump_state

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY, scene TEXT NOT NULL, name TEXT NOT NULL, doc BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS objects_scene ON objects(scene, name);
CREATE TABLE IF NOT EXISTS properties (
    key TEXT PRIMARY KEY, scene TEXT NOT NULL, name TEXT NOT NULL, doc BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS properties_scene ON properties(scene, name);
CREATE TABLE IF NOT EXISTS scenes (key TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS devices (key TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS registrations (
    scene TEXT NOT NULL, device TEXT NOT NULL, doc BLOB NOT NULL, PRIMARY KEY (scene, device));
CREATE INDEX IF NOT EXISTS registrations_device ON registrations(device);
CREATE TABLE IF NOT EXISTS links (
    a TEXT NOT NULL, b TEXT NOT NULL, doc BLOB NOT NULL, PRIMARY KEY (a, b));
CREATE TABLE IF NOT EXISTS replay_floors (key_id TEXT PRIMARY KEY, floor INTEGER NOT NULL);
"""

OBJECT_FIELDS = ("scene", "name", "type", "subtype", "owner", "parent", "asset_sub_id")
PROPERTY_FIELDS = ("scene", "name", "parent", "asset_sub_id")

# virtual columns over a scene's JSON document, for its indexes (computed, never written)
SCENE_COLUMNS = {
    "name": "TEXT AS (json_extract(CAST(doc AS TEXT), '$.name'))",
    "region": "TEXT AS (json_extract(CAST(doc AS TEXT), '$.region'))",
    "public": "INTEGER AS (json_extract(CAST(doc AS TEXT), '$.public'))",
    "owner": "TEXT AS (json_extract(CAST(doc AS TEXT), '$.user'))",
    "lat": "REAL AS (json_extract(CAST(doc AS TEXT), '$.latitude'))",
    "lon": "REAL AS (json_extract(CAST(doc AS TEXT), '$.longitude'))",
}
SCENE_INDEXES = """
CREATE INDEX IF NOT EXISTS scenes_name ON scenes(name);
CREATE INDEX IF NOT EXISTS scenes_region ON scenes(region);
CREATE INDEX IF NOT EXISTS scenes_owner ON scenes(owner);
CREATE INDEX IF NOT EXISTS scenes_lat ON scenes(lat, lon);
"""


def _field(name: str) -> str:
    """A field of the JSON document (every field is a string, ``""`` when absent); the same
    text as in :data:`FIELD_INDEXES`, so SQLite uses those indexes."""
    return f"COALESCE(json_extract(CAST(doc AS TEXT), '$.{name}'), '')"


# (scene, key): a scene's objects in key order, so a query stops at its limit (no sort); children
# and sub-assets are looked up by their parent and asset_sub_id columns
FIELD_INDEXES = [
    *(f"CREATE INDEX IF NOT EXISTS {t}_scene_key ON {t}(scene, key)"
      for t in ("objects", "properties")),
    *(f"CREATE INDEX IF NOT EXISTS {t}_by_{name} ON {t}({name})"
      for t in ("objects", "properties") for name in ("parent", "asset_sub_id")),
]  # fmt: skip

COLUMNS = ("scene", "name", "parent", "asset_sub_id")
"""The fields of an object or property kept as indexed columns beside its document."""


def _upsert(table: str, versioned: bool) -> str:
    """Write a whole row; unversioned writes store version 0, versioned ones only a newer one."""
    v = "excluded.v" if versioned else "0"
    newer = f" WHERE excluded.v > {table}.v" if versioned else ""
    return (
        f"INSERT INTO {table}(key, scene, name, parent, asset_sub_id, doc, v)"
        f" VALUES (?,?,?,?,?,?,{'?' if versioned else '0'})"
        " ON CONFLICT(key) DO UPDATE SET scene=excluded.scene, name=excluded.name,"
        " parent=excluded.parent, asset_sub_id=excluded.asset_sub_id, doc=excluded.doc,"
        f" v={v}{newer}"
    )


def _row(e: Object3D | Property) -> tuple[str, str, str, str, str, bytes]:
    """An object's or property's row: key, its indexed :data:`COLUMNS`, then its document."""
    return (e.key, e.scene, e.name, e.parent, e.asset_sub_id, dump_state(e))


def _moved(table: str) -> str:
    """Rewrite the document of a row whose indexed columns are unchanged (no index is touched);
    nothing when they changed or the row is new."""
    return (
        f"UPDATE {table} SET doc=?6, v=0 WHERE key=?1 AND scene=?2 AND name=?3"
        " AND parent=?4 AND asset_sub_id=?5"
    )


def _index(table: str, filters: Sequence[ObjectFilter | PropertyFilter]) -> str:
    """The index for a one-filter query, as ``INDEXED BY``: SQLite has no statistics of the
    data, and without them it prefers ``(scene, key)`` (no sort) even where ``(scene, name)`` or
    ``parent`` would read one row. Several filters (an OR) are left to SQLite."""
    if len(filters) != 1:
        return ""
    f = filters[0]
    if f.scene is not None and f.name is not None:
        return f" INDEXED BY {table}_scene"
    for name in ("parent", "asset_sub_id"):
        if getattr(f, name) is not None:
            return f" INDEXED BY {table}_by_{name}"
    return f" INDEXED BY {table}_scene_key" if f.scene is not None else ""


def _add_columns(db: sqlite3.Connection) -> None:
    """Columns and indexes added since the first schema (idempotent)."""
    for table in ("objects", "properties"):  # versions for put_*_versioned; 0 = unversioned
        have = {row[1] for row in db.execute(f"PRAGMA table_xinfo({table})")}
        if "v" not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN v INTEGER NOT NULL DEFAULT 0")
        for name in ("parent", "asset_sub_id"):  # were expression indexes over the document
            if name not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name} TEXT NOT NULL DEFAULT ''")
                db.execute(f"UPDATE {table} SET {name}={_field(name)}")
            db.execute(f"DROP INDEX IF EXISTS {table}_{name}")
    have = {row[1] for row in db.execute("PRAGMA table_xinfo(scenes)")}
    for column, decl in SCENE_COLUMNS.items():
        if column not in have:
            db.execute(f"ALTER TABLE scenes ADD COLUMN {column} {decl} VIRTUAL")
    for statement in [*SCENE_INDEXES.strip().splitlines(), *FIELD_INDEXES]:
        db.execute(statement)


def _scene_where(f: SceneFilter) -> tuple[str, list[object], bool]:
    """The indexed part of a scene query as SQL, and whether it is the whole query (no tags
    and no distance left to test in Python)."""
    where, args = ["1=1"], list[object]()
    for column, value in (("key", f.key), ("name", f.name), ("region", f.region)):
        if value is not None:
            where.append(f"{column}=?")
            args.append(value)
    if f.public is not None:
        where.append("public=?")
        args.append(int(f.public))
    if not f.see_all:
        where.append("(public=1 OR owner=?)" if f.principal is not None else "public=1")
        args += [f.principal] if f.principal is not None else []
    box = f.box()
    if box is not None:
        where.append("lat BETWEEN ? AND ? AND lon BETWEEN ? AND ?")
        args += list(box)
    return " AND ".join(where), args, box is None and not f.tags


def _where(
    filters: Sequence[ObjectFilter | PropertyFilter], fields: Sequence[str]
) -> tuple[str, list[str]]:
    """The whole query as a WHERE clause: an OR of the filters, each an AND of exact matches.

    ``scene``, ``name``, ``parent`` and ``asset_sub_id`` are indexed columns; the other fields
    are read from the document by SQLite, so no row is decoded in Python unless it matches, and
    ``LIMIT`` stops the scan.
    """
    clauses, args = [], list[str]()
    for f in filters:
        parts = []
        for name in fields:
            value = getattr(f, name)
            if value is not None:
                parts.append(f"{name}=?" if name in COLUMNS else f"{_field(name)}=?")
                args.append(value)
        assets = getattr(f, "assets", None)
        if assets and len(assets) == 1:  # contains
            parts.append(
                "EXISTS (SELECT 1 FROM json_each(CAST(doc AS TEXT), '$.assets') WHERE value=?)"
            )
            args.append(assets[0])
        elif assets:  # exactly this list, in order
            parts.append(f"json_array_length(CAST(doc AS TEXT), '$.assets')={len(assets)}")
            for i, asset in enumerate(assets):
                parts.append(f"json_extract(CAST(doc AS TEXT), '$.assets[{i}]')=?")
                args.append(asset)
        clauses.append("(" + " AND ".join(parts or ["1=1"]) + ")")
    return " OR ".join(clauses), args


class SqliteStore(SqliteDb):
    """All store contracts of the core server on ``<data_dir>/aesel.db``."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(Path(data_dir) / "aesel.db", SCHEMA)

    async def open(self) -> None:
        await super().open()
        await self._tx(_add_columns)

    async def _by_keys(self, cls: type[E], table: str, keys: Sequence[str]) -> list[E]:
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        sql = f"SELECT doc FROM {table} WHERE key IN ({marks}) ORDER BY key"
        return await self._all(cls, sql, *keys)

    # -- objects --------------------------------------------------------------------------

    async def get_object(self, key: str) -> Object3D | None:
        return await self._get(Object3D, "SELECT doc FROM objects WHERE key=?", key)

    async def put_objects(self, objects: Sequence[Object3D]) -> None:
        await self._put("objects", [_row(o) for o in objects])

    async def _put(self, table: str, rows: list[tuple[str, str, str, str, str, bytes]]) -> None:
        """Unversioned rows: an unchanged index costs one UPDATE, else the upsert."""
        moved, upsert = _moved(table), _upsert(table, versioned=False)

        def run(db: sqlite3.Connection) -> None:
            for row in rows:
                if db.execute(moved, row).rowcount == 0:
                    db.execute(upsert, row)

        await self._tx(run)

    async def _put_versioned(
        self, table: str, rows: list[tuple[str, str, str, str, str, bytes, int]]
    ) -> list[str]:
        sql = _upsert(table, versioned=True)

        def run(db: sqlite3.Connection) -> list[str]:
            return [row[0] for row in rows if db.execute(sql, row).rowcount == 0]

        return await self._tx(run)

    async def put_objects_versioned(self, objects: Sequence[tuple[Object3D, int]]) -> list[str]:
        return await self._put_versioned("objects", [(*_row(o), v) for o, v in objects])

    async def delete_object(self, key: str) -> bool:
        return await self._delete("DELETE FROM objects WHERE key=?", key)

    async def get_objects(self, keys: Sequence[str]) -> list[Object3D]:
        return await self._by_keys(Object3D, "objects", keys)

    async def swap_object_owner(self, key: str, expected: str, owner: str) -> Object3D | None:
        def run(db: sqlite3.Connection) -> Object3D | None:
            row = db.execute("SELECT doc FROM objects WHERE key=?", (key,)).fetchone()
            o = Object3D.model_validate_json(row[0]) if row else None
            if o is None or o.owner != expected:
                return None
            o = o.model_copy(update={"owner": owner})
            db.execute("UPDATE objects SET doc=? WHERE key=?", (dump(o), key))
            return o

        return await self._tx(run)

    async def query_objects(self, filters: Sequence[ObjectFilter], limit: int) -> list[Object3D]:
        if not filters or limit <= 0:
            return []
        where, args = _where(filters, OBJECT_FIELDS)
        table = "objects" + _index("objects", filters)
        sql = f"SELECT doc FROM {table} WHERE {where} ORDER BY key LIMIT ?"
        return await self._all(Object3D, sql, *args, limit)

    # -- properties -----------------------------------------------------------------------

    async def get_property(self, key: str) -> Property | None:
        return await self._get(Property, "SELECT doc FROM properties WHERE key=?", key)

    async def put_properties(self, properties: Sequence[Property]) -> None:
        await self._put("properties", [_row(p) for p in properties])

    async def put_properties_versioned(
        self, properties: Sequence[tuple[Property, int]]
    ) -> list[str]:
        return await self._put_versioned("properties", [(*_row(p), v) for p, v in properties])

    async def delete_property(self, key: str) -> bool:
        return await self._delete("DELETE FROM properties WHERE key=?", key)

    async def get_properties(self, keys: Sequence[str]) -> list[Property]:
        return await self._by_keys(Property, "properties", keys)

    async def query_properties(
        self, filters: Sequence[PropertyFilter], limit: int
    ) -> list[Property]:
        if not filters or limit <= 0:
            return []
        where, args = _where(filters, PROPERTY_FIELDS)
        table = "properties" + _index("properties", filters)
        sql = f"SELECT doc FROM {table} WHERE {where} ORDER BY key LIMIT ?"
        return await self._all(Property, sql, *args, limit)

    # -- scenes ---------------------------------------------------------------------------

    async def get_scene(self, key: str) -> Scene | None:
        return await self._get(Scene, "SELECT doc FROM scenes WHERE key=?", key)

    async def put_scene(self, scene: Scene) -> None:
        sql = "INSERT OR REPLACE INTO scenes(key, doc) VALUES (?,?)"
        await self._write(sql, [(scene.key, dump(scene))])

    async def insert_scene(self, scene: Scene) -> None:
        sql = "INSERT INTO scenes(key, doc) VALUES (?,?)"
        await self._write(sql, [(scene.key, dump(scene))])

    async def delete_scene(self, key: str) -> bool:
        def run(db: sqlite3.Connection) -> bool:
            n = db.execute("DELETE FROM scenes WHERE key=?", (key,)).rowcount
            db.execute("DELETE FROM registrations WHERE scene=?", (key,))
            db.execute("DELETE FROM links WHERE a=? OR b=?", (key, key))
            return n > 0

        return await self._tx(run)

    async def query_scenes(self, f: SceneFilter, start: int, limit: int) -> list[Scene]:
        where, args, exact = _scene_where(f)
        sql = f"SELECT doc FROM scenes WHERE {where} ORDER BY key"
        start, limit = max(0, start), max(0, limit)
        if exact:
            return await self._all(Scene, sql + " LIMIT ? OFFSET ?", *args, limit, start)
        scenes = await self._all(Scene, sql, *args)
        return [s for s in scenes if f.matches(s)][start : start + limit]

    # -- devices and registrations --------------------------------------------------------

    async def get_device(self, key: str) -> Device | None:
        return await self._get(Device, "SELECT doc FROM devices WHERE key=?", key)

    async def put_device(self, device: Device) -> None:
        sql = "INSERT OR REPLACE INTO devices(key, doc) VALUES (?,?)"
        await self._write(sql, [(device.key, dump(device))])

    async def put_registration(self, reg: Registration) -> None:
        sql = "INSERT OR REPLACE INTO registrations(scene, device, doc) VALUES (?,?,?)"
        await self._write(sql, [(reg.scene, reg.device, dump(reg))])

    async def delete_registration(self, scene: str, device: str) -> bool:
        return await self._delete(
            "DELETE FROM registrations WHERE scene=? AND device=?", scene, device
        )

    async def registrations(
        self, *, scene: str | None = None, device: str | None = None
    ) -> list[Registration]:
        sql, args = "SELECT doc FROM registrations WHERE 1=1", list[str]()
        if scene is not None:
            sql, args = sql + " AND scene=?", [*args, scene]
        if device is not None:
            sql, args = sql + " AND device=?", [*args, device]
        return await self._all(Registration, sql + " ORDER BY scene, device", *args)

    async def registrations_with_devices(
        self, *, scene: str | None = None, device: str | None = None
    ) -> list[tuple[Registration, Device]]:
        sql = (
            "SELECT r.doc, d.doc FROM registrations r JOIN devices d ON d.key = r.device"
            " WHERE (?1 IS NULL OR r.scene = ?1) AND (?2 IS NULL OR r.device = ?2)"
            " ORDER BY r.scene, r.device"
        )
        rows = await self._run(lambda db: db.execute(sql, (scene, device)).fetchall())
        return [
            (Registration.model_validate_json(r), Device.model_validate_json(d)) for r, d in rows
        ]

    async def put_link(self, a: str, b: str, t: DeviceTransform) -> None:
        def run(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM links WHERE a=? AND b=?", (b, a))
            db.execute("INSERT OR REPLACE INTO links(a, b, doc) VALUES (?,?,?)", (a, b, dump(t)))

        await self._tx(run)

    async def links(self) -> list[tuple[str, str, DeviceTransform]]:
        rows = await self._run(lambda db: db.execute("SELECT a, b, doc FROM links").fetchall())
        return [(a, b, DeviceTransform.model_validate_json(doc)) for a, b, doc in rows]

    async def path_transform(self, a: str, b: str) -> tf.Matrix | None:
        return shortest_chain(await self.links(), a, b)

    # -- GCM replay floors ----------------------------------------------------------------

    async def replay_floors(self) -> dict[str, int]:
        rows = await self._run(
            lambda db: db.execute("SELECT key_id, floor FROM replay_floors").fetchall()
        )
        return {k: int(f) for k, f in rows}

    async def advance_replay_floors(self, marks: Mapping[str, int]) -> None:
        sql = (
            "INSERT INTO replay_floors(key_id, floor) VALUES (?,?) "
            "ON CONFLICT(key_id) DO UPDATE SET floor=max(floor, excluded.floor)"
        )
        await self._write(sql, list(marks.items()))
