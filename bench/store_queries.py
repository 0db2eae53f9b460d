"""Scene query cost on the embedded store with 1,000 / 10,000 / 100,000 scenes.

Compares each query answered from the indexes (``SqliteStore.query_scenes``) with the old way
(decode every scene, filter in Python). Scenes are spread over 100 regions and the whole
globe; names are unique. Run: ``.venv/bin/python bench/store_queries.py [SIZES...]``.
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

from aesel.model.entities import Scene
from aesel.storage.base import SceneFilter
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


async def main(sizes: list[int]) -> None:
    print(f"{'scenes':>8} {'query':<28}{'hits':>6} {'index ms':>10} {'scan ms':>10} {'ratio':>9}")
    for n in sizes:
        await one_size(n)


if __name__ == "__main__":
    asyncio.run(main([int(a) for a in sys.argv[1:]] or [1_000, 10_000, 100_000]))
