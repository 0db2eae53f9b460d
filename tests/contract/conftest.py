"""Backend factories for the store contract suite.

Every contract test takes one of ``objects``, ``scenes``, ``catalog`` or ``blobs`` and runs once
per backend: the embedded store always; MongoDB (SecantusDB, a MongoDB-wire server) and Neo4j
when the real servers run. Those are started once per test session by ``scripts/engines.sh``
(installed into ``~/.cache/aesel/engines`` the first time), unless ``AESEL_MONGO_URL`` and
``AESEL_NEO4J_URL`` already point at running servers. ``AESEL_ENGINES=off`` skips them.
Each test gets an empty store: its own Mongo database, or a wiped Neo4j graph.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engines import drop_database, mongo_url


@pytest.fixture(autouse=True)
def collect_driver_sockets() -> Iterator[None]:
    """PyMongo 4.20's asyncio monitor leaks the socket of a server check that ``close()``
    cancels mid-flight; collect such sockets after each test rather than at a random later
    point, where the warning would fail an unrelated test."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


INTEGRATION = pytest.mark.integration
EMBEDDED_OR_MONGO = [
    pytest.param("embedded"),
    pytest.param("mongo", marks=INTEGRATION),
]
EMBEDDED_OR_NEO4J = [
    pytest.param("embedded"),
    pytest.param("neo4j", marks=INTEGRATION),
]


@pytest.fixture(params=EMBEDDED_OR_MONGO)
async def objects(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """An ObjectStore and PropertyStore."""
    if request.param == "embedded":
        from aesel.storage.embedded import SqliteStore

        s: Any = SqliteStore(tmp_path / "objects")  # its own file: the store locks it
        await s.open()
        yield s
        await s.close()
        return
    from aesel.storage.mongo import MongoObjectStore

    url = mongo_url(request.getfixturevalue("engines"))
    s = MongoObjectStore(url)
    await s.open()
    try:
        yield s
    finally:
        await s.close()
        await drop_database(url)


@pytest.fixture(params=EMBEDDED_OR_NEO4J)
async def scenes(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A SceneStore."""
    if request.param == "embedded":
        from aesel.storage.embedded import SqliteStore

        s: Any = SqliteStore(tmp_path / "scenes")
        await s.open()
        yield s
        await s.close()
        return
    from aesel.storage.neo4j import Neo4jSceneStore

    s = Neo4jSceneStore(request.getfixturevalue("engines").urls["AESEL_NEO4J_URL"])
    await s.open()
    await s.clear()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture(params=EMBEDDED_OR_MONGO)
async def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A CatalogStore."""
    if request.param == "embedded":
        from aesel.storage.embedded.catalog import SqliteCatalog

        s: Any = SqliteCatalog(tmp_path)
        await s.open()
        yield s
        await s.close()
        return
    from aesel.storage.mongo import MongoCatalogStore

    url = mongo_url(request.getfixturevalue("engines"))
    s = MongoCatalogStore(url)
    await s.open()
    try:
        yield s
    finally:
        await s.close()
        await drop_database(url)


@pytest.fixture(params=EMBEDDED_OR_MONGO)
async def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A BlobStore."""
    if request.param == "embedded":
        from aesel.storage.embedded.catalog import FileBlobs

        s: Any = FileBlobs(tmp_path)
        await s.open()
        yield s
        return
    from aesel.storage.mongo import MongoBlobStore

    url = mongo_url(request.getfixturevalue("engines"))
    s = MongoBlobStore(url)
    await s.open()
    try:
        yield s
    finally:
        await s.close()
        await drop_database(url)
