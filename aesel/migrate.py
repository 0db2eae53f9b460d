"""``aesel migrate``: copy an embedded deployment into MongoDB and Neo4j.

Reads ``DATA_DIR`` (``aesel.db``, ``catalog.db`` and ``assets/``) read-only, and writes every
entity through the store contracts of the distributed backends: objects, properties, replay
floors, asset metadata and bytes (GridFS), relationships, histories, collections, projects and
users to MongoDB, and recordings (``recordings/``) into GridFS; scenes, devices, registrations
and links to Neo4j. The source should not be served while it is copied (stop ``aesel serve``
first); a recording a crash left unfinished is copied up to its last whole record.

Idempotent: each entity is compared with what the target already holds and written only when
it differs, so a second run copies nothing new, and a run cut short can simply be run again.
Asset bytes are copied before their metadata, so no asset is visible without its bytes.
Prints a progress line per entity kind on stderr and, at the end, a count per entity.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

from aesel.errors import AeselError
from aesel.model import recording as rec
from aesel.model.catalog import (
    AssetCollection,
    AssetHistory,
    AssetMeta,
    AssetRelationship,
    Project,
    User,
)
from aesel.model.entities import (
    Device,
    DeviceTransform,
    Entity,
    Object3D,
    Property,
    Registration,
    Scene,
)
from aesel.storage.base import RecordingInfo
from aesel.storage.catalog import RelationshipFilter
from aesel.storage.mongo import MongoBlobStore, MongoCatalogStore, MongoObjectStore
from aesel.storage.mongo.recordings import MongoRecordings
from aesel.storage.neo4j import Neo4jSceneStore

E = TypeVar("E", bound=Entity)
BATCH = 500
EVERYTHING = 1 << 62


@dataclass
class Tally:
    """Per entity kind: how many were found, and how many of those were written."""

    found: dict[str, int] = field(default_factory=dict)
    copied: dict[str, int] = field(default_factory=dict)

    def table(self) -> str:
        lines = [f"{'entity':<16}{'found':>10}{'copied':>10}"]
        lines += [f"{k:<16}{n:>10}{self.copied.get(k, 0):>10}" for k, n in self.found.items()]
        return "\n".join(lines)


class Source:
    """The embedded data dir, read-only."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def rows(self, db: str, sql: str) -> list[tuple[Any, ...]]:
        path = self.data_dir / db
        if not path.exists():
            return []
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def docs(self, cls: type[E], db: str, table: str, order: str = "1") -> list[E]:
        rows = self.rows(db, f"SELECT doc FROM {table} ORDER BY {order}")
        return [cls.model_validate_json(r[0]) for r in rows]

    def recordings(self) -> list[tuple[RecordingInfo, Path]]:
        """The recordings under ``recordings/`` (``<id>.json`` beside ``<id>.rec``, or ``.part``
        when a crash left it unfinished), oldest first."""
        found = []
        for meta in (self.data_dir / "recordings").glob("*.json"):
            doc = orjson.loads(meta.read_bytes())
            for suffix, active in ((".rec", False), (".part", True)):
                path = meta.with_suffix(suffix)
                if path.is_file():
                    info = RecordingInfo(str(doc["id"]), str(doc["scene"]), int(doc["started"]),
                                         path.stat().st_size, active)  # fmt: skip
                    found.append((info, path))
                    break
        return sorted(found, key=lambda f: (f[0].started, f[0].id))


def progress(kind: str, done: int, total: int) -> None:
    if sys.stderr.isatty() or done == total:
        end = "\n" if done == total else ""
        print(f"\r{kind:<16}{done:>10}/{total}", end=end, file=sys.stderr, flush=True)


async def copy(
    tally: Tally,
    kind: str,
    items: Sequence[E],
    key: Callable[[E], Any],
    existing: Callable[[Sequence[E]], Awaitable[Iterable[E]]],
    write: Callable[[Sequence[E]], Awaitable[None]],
) -> None:
    """Write, batch by batch, the ``items`` that the target lacks or holds differently."""
    tally.found[kind], tally.copied[kind] = len(items), 0
    for i in range(0, len(items), BATCH):
        batch = items[i : i + BATCH]
        have = {key(e): e for e in await existing(batch)}
        new = [e for e in batch if have.get(key(e)) != e]
        if new:
            await write(new)
        tally.copied[kind] += len(new)
        progress(kind, i + len(batch), len(items))
    if not items:
        progress(kind, 0, 0)


async def each(items: Sequence[E], fn: Callable[[E], Awaitable[Any]]) -> None:
    for e in items:
        await fn(e)


async def gather_some(keys: Iterable[str], fn: Callable[[str], Awaitable[E | None]]) -> list[E]:
    found = [await fn(k) for k in keys]
    return [e for e in found if e is not None]


async def migrate(
    data_dir: Path, mongo_url: str, neo4j_url: str, call_timeout: float = 10.0
) -> Tally:
    """Copy ``data_dir`` into the stores at ``mongo_url`` and ``neo4j_url``."""
    src, tally = Source(data_dir), Tally()
    timeout = call_timeout
    objects = MongoObjectStore(mongo_url, timeout=timeout)
    catalog = MongoCatalogStore(mongo_url, timeout=timeout)
    blobs = MongoBlobStore(mongo_url, timeout=timeout)
    recordings = MongoRecordings(mongo_url, owner="aesel migrate", timeout=timeout)
    scenes = Neo4jSceneStore(neo4j_url, timeout=timeout)
    opened: list[Any] = []
    try:
        for store in (objects, catalog, blobs, recordings, scenes):
            await store.open()
            opened.append(store)
        await _core(src, tally, objects, scenes)
        await _catalog(src, tally, catalog, blobs)
        await _recordings(src, tally, recordings)
    finally:
        for store in opened:
            await store.close()
    return tally


async def _core(
    src: Source, tally: Tally, objects: MongoObjectStore, scenes: Neo4jSceneStore
) -> None:
    db = "aesel.db"
    await copy(tally, "objects", src.docs(Object3D, db, "objects", "key"), lambda o: o.key,
               lambda b: objects.get_objects([o.key for o in b]), objects.put_objects)  # fmt: skip
    await copy(tally, "properties", src.docs(Property, db, "properties", "key"),
               lambda p: p.key, lambda b: objects.get_properties([p.key for p in b]),
               objects.put_properties)  # fmt: skip
    floors = dict(src.rows(db, "SELECT key_id, floor FROM replay_floors ORDER BY key_id"))
    have = await objects.replay_floors()
    rising = {k: int(v) for k, v in floors.items() if have.get(k, -1) < int(v)}
    await objects.advance_replay_floors(rising)
    tally.found["replay floors"], tally.copied["replay floors"] = len(floors), len(rising)

    await copy(tally, "scenes", src.docs(Scene, db, "scenes", "key"), lambda s: s.key,
               lambda b: gather_some((s.key for s in b), scenes.get_scene),
               lambda b: each(b, scenes.put_scene))  # fmt: skip
    await copy(tally, "devices", src.docs(Device, db, "devices", "key"), lambda d: d.key,
               lambda b: gather_some((d.key for d in b), scenes.get_device),
               lambda b: each(b, scenes.put_device))  # fmt: skip
    stored_regs = await scenes.registrations()

    async def stored(_: Sequence[Registration]) -> list[Registration]:
        return stored_regs

    await copy(tally, "registrations",
               src.docs(Registration, db, "registrations", "scene, device"),
               lambda r: (r.scene, r.device), stored,
               lambda b: each(b, scenes.put_registration))  # fmt: skip
    links = [(a, b, DeviceTransform.model_validate_json(d))
             for a, b, d in src.rows(db, "SELECT a, b, doc FROM links ORDER BY a, b")]  # fmt: skip
    have_links = {(a, b): t for a, b, t in await scenes.links()}
    new_links = [(a, b, t) for a, b, t in links if have_links.get((a, b)) != t]
    for a, b, t in new_links:
        await scenes.put_link(a, b, t)
    tally.found["links"], tally.copied["links"] = len(links), len(new_links)


async def _catalog(
    src: Source, tally: Tally, catalog: MongoCatalogStore, blobs: MongoBlobStore
) -> None:
    db = "catalog.db"
    assets = src.docs(AssetMeta, db, "assets", "key")
    tally.found["asset bytes"], tally.copied["asset bytes"] = 0, 0
    for i, a in enumerate(assets):
        path = src.data_dir / "assets" / a.key  # keys are ours: hex ids
        if not path.is_file():
            continue
        tally.found["asset bytes"] += 1
        if await blobs.size(a.key) is None:
            await _copy_file(path, blobs, a.key)
            tally.copied["asset bytes"] += 1
        progress("asset bytes", i + 1, len(assets))

    async def put_assets(batch: Sequence[AssetMeta]) -> None:
        for a in batch:
            await catalog.put_asset(a, None)

    await copy(tally, "assets", assets, lambda a: a.key,
               lambda b: catalog.assets_by_ids([a.key for a in b]), put_assets)  # fmt: skip
    await copy(tally, "relationships",
               src.docs(AssetRelationship, db, "relationships", "id"), lambda r: r.id,
               lambda b: catalog.query_relationships(
                   RelationshipFilter(asset_ids=tuple({r.asset_id for r in b})), 0, EVERYTHING),
               catalog.put_relationships)  # fmt: skip
    histories = src.docs(AssetHistory, db, "histories", "id")

    async def stored_histories(batch: Sequence[AssetHistory]) -> list[AssetHistory]:
        return [h for a in {h.asset for h in batch} for h in await catalog.histories(a)]

    await copy(tally, "histories", histories, lambda h: h.id, stored_histories,
               lambda b: each(b, catalog.put_history))  # fmt: skip
    await copy(tally, "collections", src.docs(AssetCollection, db, "collections", "id"),
               lambda c: c.id, lambda b: catalog.collections_by_ids([c.id for c in b]),
               lambda b: each(b, catalog.put_collection))  # fmt: skip
    await copy(tally, "projects", src.docs(Project, db, "projects", "id"), lambda p: p.id,
               lambda b: gather_some((p.id for p in b), catalog.get_project),
               lambda b: each(b, catalog.put_project))  # fmt: skip
    await copy(tally, "users", src.docs(User, db, "users", "id"), lambda u: u.id,
               lambda b: gather_some((u.id for u in b), catalog.get_user),
               lambda b: each(b, catalog.put_user))  # fmt: skip


async def _recordings(src: Source, tally: Tally, target: MongoRecordings) -> None:
    found = await asyncio.to_thread(src.recordings)
    have = {i.id for i in await target.recordings()}
    tally.found["recordings"], tally.copied["recordings"] = len(found), 0
    for n, (info, path) in enumerate(found, 1):
        if info.id not in have:
            data = await asyncio.to_thread(path.read_bytes)
            if info.active:  # left unfinished by a crash: whole records only
                data = data[: rec.complete_prefix(data)]
            await target.create_recording(info, data)
            await target.finish_recording(info.id)
            tally.copied["recordings"] += 1
        progress("recordings", n, len(found))
    if not found:
        progress("recordings", 0, 0)


async def _copy_file(path: Path, blobs: MongoBlobStore, key: str) -> None:
    up = blobs.begin()
    f = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(f.read, 1 << 20):
            await up.write(chunk)
        await up.commit(key)
    except BaseException:
        await up.abort()
        raise
    finally:
        await asyncio.to_thread(f.close)


def main(argv: Sequence[str] | None = None) -> int:
    """``aesel migrate``; returns the exit code."""
    p = argparse.ArgumentParser(
        prog="aesel migrate",
        description="Copy an embedded aesel data dir into MongoDB and Neo4j (idempotent).",
    )
    p.add_argument("--from", dest="data_dir", type=Path, required=True, metavar="DATA_DIR",
                   help="the embedded deployment's data dir (not being served)")  # fmt: skip
    p.add_argument("--mongo-url", default=os.environ.get("AESEL_MONGO_URL"),
                   help="MongoDB URL, database in the path (default $AESEL_MONGO_URL)")  # fmt: skip
    p.add_argument("--neo4j-url", default=os.environ.get("AESEL_NEO4J_URL"),
                   help="Neo4j bolt:// or neo4j:// URL (default $AESEL_NEO4J_URL)")  # fmt: skip
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per store call")
    args = p.parse_args(argv)
    if not args.mongo_url or not args.neo4j_url:
        p.error("expected --mongo-url and --neo4j-url (or AESEL_MONGO_URL and AESEL_NEO4J_URL)")
    if not (args.data_dir / "aesel.db").exists():
        print(f"aesel migrate: no aesel.db in {args.data_dir}", file=sys.stderr)
        return 1
    try:
        tally = asyncio.run(migrate(args.data_dir, args.mongo_url, args.neo4j_url, args.timeout))
    except (AeselError, sqlite3.Error) as e:
        print(f"aesel migrate: {e}", file=sys.stderr)
        return 1
    print(tally.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
