"""Query cost against the size of the store.

Scenes (the default): the embedded store with 1,000 / 10,000 / 100,000 scenes, each query
answered from the indexes (``SqliteStore.query_scenes``) against the old way (decode every
scene, filter in Python). Scenes are spread over 100 regions and the whole globe; names are
unique. Run: ``.venv/bin/python bench/store_queries.py [SIZES...]``.

Objects (``--objects``): N objects in one scene (default 100,000), the same object queries on
the embedded store (filters and limit in one SQL query), on the embedded store the old way
(every object of the scene decoded, then filtered in Python) and on MongoDB (SecantusDB, the
MongoDB-wire server ``scripts/engines.sh`` starts, standing in for MongoDB; its own server is
started and stopped unless ``AESEL_MONGO_URL`` is set). Median of a few runs per query, all in
one run on a shared machine: compare the ratios. Run:
``.venv/bin/python bench/store_queries.py --objects [N]``.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aesel.model.entities import Object3D, Scene
from aesel.storage.base import ObjectFilter, SceneFilter
from aesel.storage.embedded import SqliteStore
from aesel.storage.embedded.db import dump

QUERIES = {
    "by name": SceneFilter(name="scene-00000042"),
    "by region (1%)": SceneFilter(region="r7"),
    "within 300 km": SceneFilter(latitude=48.85, longitude=2.35, distance=300_000),
    "page of 20, visible to u3": SceneFilter(see_all=False, principal="u3"),
}


def scenes(n: int) -> list[Scene]:
    rnd = random.Random(n)
    return [
        Scene(
            key=f"k{i:08d}", name=f"scene-{i:08d}", region=f"r{i % 100}", user=f"u{i % 50}",
            public=i % 4 != 0, latitude=rnd.uniform(-80, 80), longitude=rnd.uniform(-180, 180),
            tags=("t",),
        )
        for i in range(n)
    ]  # fmt: skip


async def timed(fn: Callable[[], Awaitable[object]], runs: int) -> float:
    """The median time of ``runs`` calls, in milliseconds."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


async def one_size(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp))
        await store.open()
        rows = [(s.key, dump(s)) for s in scenes(n)]
        await store._write("INSERT INTO scenes(key, doc) VALUES (?,?)", rows)
        for label, f in QUERIES.items():
            limit = 20 if label.startswith("page") else 1000

            async def indexed(f: SceneFilter = f, limit: int = limit) -> list[Scene]:
                return await store.query_scenes(f, 0, limit)

            async def scan(f: SceneFilter = f, limit: int = limit) -> list[Scene]:
                every = await store._all(Scene, "SELECT doc FROM scenes ORDER BY key")
                return [s for s in every if f.matches(s)][:limit]

            assert await indexed() == await scan(), label
            runs = 3 if n >= 100_000 else 10
            new, old = await timed(indexed, 20), await timed(scan, runs)
            hits = len(await indexed())
            print(f"{n:>8} {label:<28}{hits:>6} {new:>10.2f} {old:>10.1f} {old / new:>8.0f}x")
        await store.close()


ENGINES_SH = str(Path(__file__).resolve().parents[1] / "scripts" / "engines.sh")
OBJECT_QUERIES = {  # (filters, limit); the scene holds n objects: o<i>, type t<i % 10>
    "by name (1 hit)": ([ObjectFilter(scene="big", name="o00004242")], 1000),
    "by parent (1 hit)": ([ObjectFilter(scene="big", parent="p00004242")], 1000),
    "by type, first 100 (10%)": ([ObjectFilter(scene="big", type="t3")], 100),
    "by type + subtype (1%)": ([ObjectFilter(scene="big", type="t3", subtype="u7")], 1000),
    "whole scene, first 20": ([ObjectFilter(scene="big")], 20),
    "two names (OR)": ([ObjectFilter(scene="big", name="o00000007"),
                        ObjectFilter(scene="big", name="o00090001")], 1000),
}  # fmt: skip


def objects(n: int) -> list[Object3D]:
    return [
        Object3D(key=f"k{i:08d}", scene="big", name=f"o{i:08d}", type=f"t{i % 10}",
                 subtype=f"u{i % 100 // 10}", parent=f"p{i:08d}", assets=(f"a{i % 7}",))
        for i in range(n)
    ]  # fmt: skip


async def objects_bench(n: int) -> None:
    import os
    import subprocess

    from aesel.storage.mongo import MongoObjectStore
    from aesel.storage.mongo.objects import OBJECTS, _object_doc

    url, run = os.environ.get("AESEL_MONGO_URL", ""), None
    if not url:
        run = tempfile.mkdtemp(prefix="aesel-bench-engines-")
        env = {**os.environ, "ENGINES_RUN": run}
        out = await asyncio.to_thread(subprocess.run, [ENGINES_SH, "start", "mongo"], env=env,
                                      capture_output=True, text=True, check=True)  # fmt: skip
        url = next(line.split("=", 1)[1] for line in out.stdout.splitlines()
                   if line.startswith("export AESEL_MONGO_URL="))  # fmt: skip
    url = url.rstrip("/") + "/bench_queries"
    made = objects(n)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            embedded = SqliteStore(Path(tmp))
            mongo = MongoObjectStore(url, timeout=600)
            await embedded.open()
            await mongo.open()
            t0 = time.perf_counter()
            for i in range(0, n, 5000):
                await embedded.put_objects(made[i : i + 5000])
            t1 = time.perf_counter()
            for i in range(0, n, 1000):  # loading is not what is measured: no transaction
                docs = [_object_doc(o) for o in made[i : i + 1000]]
                await mongo.col(OBJECTS).insert_many(docs, ordered=False)
            t2 = time.perf_counter()
            print(f"{n:,} objects in one scene; loaded in {t1 - t0:.1f} s (embedded), "
                  f"{t2 - t1:.1f} s (MongoDB)")  # fmt: skip
            print(f"{'query':<28}{'hits':>6} {'embedded ms':>12} {'old way ms':>11} "
                  f"{'MongoDB ms':>11} {'Mongo/emb':>10}")  # fmt: skip
            for label, (filters, limit) in OBJECT_QUERIES.items():

                async def new(fs: list[ObjectFilter] = filters, lim: int = limit) -> list[Object3D]:
                    return await embedded.query_objects(fs, lim)

                async def old(fs: list[ObjectFilter] = filters, lim: int = limit) -> list[Object3D]:
                    every = await embedded._all(
                        Object3D, "SELECT doc FROM objects WHERE scene=? ORDER BY key", "big"
                    )
                    return [o for o in every if any(f.matches(o) for f in fs)][:lim]

                async def remote(
                    fs: list[ObjectFilter] = filters, lim: int = limit
                ) -> list[Object3D]:
                    return await mongo.query_objects(fs, lim)

                hits = await new()
                assert hits == await remote(), label
                runs = 3 if n >= 100_000 else 10
                e, o, m = await timed(new, 10), await timed(old, runs), await timed(remote, runs)
                print(f"{label:<28}{len(hits):>6} {e:>12.2f} {o:>11.1f} {m:>11.1f} {m / e:>9.1f}x")
            await embedded.close()
            await mongo._client.drop_database("bench_queries")  # type: ignore[union-attr]
            await mongo.close()
    finally:
        if run is not None:
            env = {**os.environ, "ENGINES_RUN": run}
            await asyncio.to_thread(subprocess.run, [ENGINES_SH, "stop"], env=env, check=False)


async def main(sizes: list[int]) -> None:
    print(f"{'scenes':>8} {'query':<28}{'hits':>6} {'index ms':>10} {'scan ms':>10} {'ratio':>9}")
    for n in sizes:
        await one_size(n)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--objects"]:
        asyncio.run(objects_bench(int(sys.argv[2]) if sys.argv[2:] else 100_000))
    else:
        asyncio.run(main([int(a) for a in sys.argv[1:]] or [1_000, 10_000, 100_000]))
