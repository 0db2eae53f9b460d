"""``Neo4jSceneStore``: the scene store contract on Neo4j.

Theory of operation. The graph is ``(:Device)-[:REGISTERED]->(:Scene)`` and
``(:Scene)-[:LINK]->(:Scene)``; each node and relationship holds its entity as a JSON ``doc``
string, and a scene also holds the fields queries filter on (``name``, ``region``, ``user``,
``public``, ``tags``, ``latitude``, ``longitude``), indexed. A registration or link may name a
scene or device that was never stored: its node then exists without a ``doc`` and reads as
absent. Unique keys are constraints, so ``insert_scene`` is one ``MERGE`` that reports whether
it created the scene, and two nodes inserting one key cannot both win. The device-to-scene
transform is one ``shortestPath`` query over ``LINK`` relationships in either direction.

Geo: a query with a distance selects candidates by an indexed latitude/longitude box
(:meth:`aesel.storage.base.SceneFilter.box`), then keeps those within the haversine distance of
:func:`aesel.storage.base.distance_m` (Neo4j's own ``point.distance`` uses another Earth radius).

Every call is bounded by ``timeout`` seconds. Driver errors are translated once, by
:func:`translated`: a constraint violation is ``Conflict``, anything else (unreachable, timed
out, refused) ``BackendUnavailable``. :meth:`open` creates the constraints and indexes
(idempotent) and checks the schema version on the ``(:AeselSchema)`` node.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import orjson
from neo4j import (
    AsyncDriver,
    AsyncGraphDatabase,
    NotificationDisabledClassification,
    RoutingControl,
)
from neo4j.exceptions import ConstraintError, DriverError, Neo4jError

from aesel.errors import BackendUnavailable, Conflict
from aesel.model import transform as tf
from aesel.model.entities import Device, DeviceTransform, Entity, Registration, Scene
from aesel.storage.base import SceneFilter, chain

E = TypeVar("E", bound=Entity)

SCHEMA_VERSION = 1
#: seconds the schema statements at :meth:`Neo4jSceneStore.open` may take (a fresh server
#: builds its first indexes slowly), once the server has answered within the store timeout
SCHEMA_TIMEOUT = 60.0
SCHEMA = (
    "CREATE CONSTRAINT scene_key IF NOT EXISTS FOR (s:Scene) REQUIRE s.key IS UNIQUE",
    "CREATE CONSTRAINT device_key IF NOT EXISTS FOR (d:Device) REQUIRE d.key IS UNIQUE",
    "CREATE INDEX scene_name IF NOT EXISTS FOR (s:Scene) ON (s.name)",
    "CREATE INDEX scene_region IF NOT EXISTS FOR (s:Scene) ON (s.region)",
    "CREATE INDEX scene_user IF NOT EXISTS FOR (s:Scene) ON (s.user)",
    "CREATE INDEX scene_latitude IF NOT EXISTS FOR (s:Scene) ON (s.latitude)",
)


@contextlib.asynccontextmanager
async def translated(what: str, seconds: float) -> AsyncIterator[None]:
    """Driver errors and timeouts inside as ``Conflict`` or ``BackendUnavailable``."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except ConstraintError as e:
        raise Conflict(f"{what}: already taken") from e
    except TimeoutError as e:
        raise BackendUnavailable(f"neo4j {what}: no answer in {seconds:g}s") from e
    except (Neo4jError, DriverError, OSError) as e:
        raise BackendUnavailable(f"neo4j {what}: {e}") from e


def _json(e: Entity) -> str:
    return orjson.dumps(e.model_dump(mode="json")).decode()


def _scene_props(s: Scene) -> dict[str, Any]:
    return {"name": s.name, "region": s.region, "user": s.user, "public": s.public,
            "tags": list(s.tags), "latitude": s.latitude, "longitude": s.longitude,
            "doc": _json(s)}  # fmt: skip


class Neo4jSceneStore:
    """Scenes, devices, registrations and links on a Neo4j server (``bolt://`` or
    ``neo4j://`` URL, no authentication unless ``auth`` is given)."""

    def __init__(
        self,
        url: str,
        *,
        auth: tuple[str, str] | None = None,
        database: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._auth = auth
        self._database = database
        self._driver: AsyncDriver | None = None

    async def open(self) -> None:
        t = self.timeout
        self._driver = AsyncGraphDatabase.driver(
            self.url, auth=self._auth, connection_timeout=t, connection_acquisition_timeout=t,
            max_transaction_retry_time=t,
            # "label/relationship type/property key does not exist": every read of a store that
            # has none yet (a new database) would log one; the other notifications stay on
            notifications_disabled_classifications=[NotificationDisabledClassification.UNRECOGNIZED],
        )  # fmt: skip
        try:
            async with translated(f"open {self.url}", t):
                await self._driver.verify_connectivity()
            # the server answers (above); a fresh one may take long over its first schema work
            ddl = max(t, SCHEMA_TIMEOUT)
            for statement in SCHEMA:
                await self._query(RoutingControl.WRITE, statement, ddl)
            rows = await self._query(
                RoutingControl.WRITE,
                "MERGE (m:AeselSchema {id: 'schema'}) ON CREATE SET m.version = $v "
                "RETURN m.version AS v",
                ddl,
                v=SCHEMA_VERSION,
            )
            if int(rows[0]["v"]) > SCHEMA_VERSION:
                raise BackendUnavailable(
                    f"neo4j schema version is {rows[0]['v']}, "
                    f"this aesel knows up to {SCHEMA_VERSION}"
                )
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._driver is not None:
            driver, self._driver = self._driver, None
            with contextlib.suppress(Neo4jError, DriverError, OSError):
                await driver.close()

    async def ping(self) -> None:
        """``BackendUnavailable`` unless the server answers within the timeout."""
        await self._read("RETURN 1 AS one")

    async def clear(self) -> None:
        """Delete every scene, device, registration and link (tests and migrations)."""
        await self._write("MATCH (n) WHERE n:Scene OR n:Device DETACH DELETE n")

    async def _query(
        self, routing: RoutingControl, cypher: str, timeout_: float | None = None, **params: Any
    ) -> list[Any]:
        assert self._driver is not None, "the store is not open"
        async with translated(cypher.split(" ", 2)[0].lower(), timeout_ or self.timeout):
            result = await self._driver.execute_query(
                cypher, params, database_=self._database, routing_=routing
            )
        return list(result.records)

    async def _read(self, cypher: str, **params: Any) -> list[Any]:
        return await self._query(RoutingControl.READ, cypher, **params)

    async def _write(self, cypher: str, **params: Any) -> list[Any]:
        return await self._query(RoutingControl.WRITE, cypher, **params)

    async def _doc(self, cls: type[E], cypher: str, **params: Any) -> E | None:
        rows = await self._read(cypher, **params)
        return cls.model_validate_json(rows[0]["doc"]) if rows else None

    # -- scenes ---------------------------------------------------------------------------

    async def get_scene(self, key: str) -> Scene | None:
        return await self._doc(
            Scene, "MATCH (s:Scene {key: $key}) WHERE s.doc IS NOT NULL RETURN s.doc AS doc",
            key=key,
        )  # fmt: skip

    async def put_scene(self, scene: Scene) -> None:
        await self._write(
            "MERGE (s:Scene {key: $key}) SET s += $props", key=scene.key, props=_scene_props(scene)
        )

    async def insert_scene(self, scene: Scene) -> None:
        rows = await self._write(
            "MERGE (s:Scene {key: $key}) "
            "WITH s, s.doc IS NULL AS fresh "
            "FOREACH (_ IN CASE WHEN fresh THEN [1] ELSE [] END | SET s += $props) "
            "RETURN fresh",
            key=scene.key,
            props=_scene_props(scene),
        )
        if not rows[0]["fresh"]:
            raise Conflict(f"scene {scene.key!r} already exists")

    async def delete_scene(self, key: str) -> bool:
        rows = await self._write(
            "MATCH (s:Scene {key: $key}) WITH s, s.doc IS NOT NULL AS existed "
            "DETACH DELETE s RETURN existed",
            key=key,
        )
        return bool(rows and rows[0]["existed"])

    async def query_scenes(self, f: SceneFilter, start: int, limit: int) -> list[Scene]:
        where, params = ["s.doc IS NOT NULL"], dict[str, Any]()
        for field in ("key", "name", "region", "public"):
            if getattr(f, field) is not None:
                where.append(f"s.{field} = ${field}")
                params[field] = getattr(f, field)
        if not f.see_all:
            where.append("(s.public OR s.user = $principal)")
            params["principal"] = f.principal
        if f.tags:
            where.append("all(t IN $tags WHERE t IN s.tags)")
            params["tags"] = list(f.tags)
        box = f.box()
        if box is not None:
            where.append("s.latitude >= $lat_min AND s.latitude <= $lat_max")
            where.append("s.longitude >= $lon_min AND s.longitude <= $lon_max")
            params.update(zip(("lat_min", "lat_max", "lon_min", "lon_max"), box, strict=True))
        cypher = f"MATCH (s:Scene) WHERE {' AND '.join(where)} RETURN s.doc AS doc ORDER BY s.key"
        if box is None:  # exact in Cypher: page there
            if limit <= 0:
                return []
            rows = await self._read(cypher + " SKIP $start LIMIT $limit", **params,
                                    start=max(0, start), limit=limit)  # fmt: skip
            return [Scene.model_validate_json(r["doc"]) for r in rows]
        rows = await self._read(cypher, **params)
        found = [s for s in (Scene.model_validate_json(r["doc"]) for r in rows) if f.matches(s)]
        return found[max(0, start) : max(0, start) + max(0, limit)]

    # -- devices, registrations, links ----------------------------------------------------

    async def get_device(self, key: str) -> Device | None:
        return await self._doc(
            Device, "MATCH (d:Device {key: $key}) WHERE d.doc IS NOT NULL RETURN d.doc AS doc",
            key=key,
        )  # fmt: skip

    async def put_device(self, device: Device) -> None:
        await self._write(
            "MERGE (d:Device {key: $key}) SET d.doc = $doc", key=device.key, doc=_json(device)
        )

    async def put_registration(self, reg: Registration) -> None:
        await self._write(
            "MERGE (d:Device {key: $device}) MERGE (s:Scene {key: $scene}) "
            "MERGE (d)-[r:REGISTERED]->(s) SET r.doc = $doc",
            device=reg.device, scene=reg.scene, doc=_json(reg),
        )  # fmt: skip

    async def delete_registration(self, scene: str, device: str) -> bool:
        rows = await self._write(
            "MATCH (:Device {key: $device})-[r:REGISTERED]->(:Scene {key: $scene}) "
            "DELETE r RETURN count(*) AS n",
            device=device, scene=scene,
        )  # fmt: skip
        return bool(rows and rows[0]["n"])

    async def registrations(
        self, *, scene: str | None = None, device: str | None = None
    ) -> list[Registration]:
        rows = await self._read(
            "MATCH (d:Device)-[r:REGISTERED]->(s:Scene) "
            "WHERE ($scene IS NULL OR s.key = $scene) AND ($device IS NULL OR d.key = $device) "
            "RETURN r.doc AS doc ORDER BY s.key, d.key",
            scene=scene, device=device,
        )  # fmt: skip
        return [Registration.model_validate_json(r["doc"]) for r in rows]

    async def registrations_with_devices(
        self, *, scene: str | None = None, device: str | None = None
    ) -> list[tuple[Registration, Device]]:
        rows = await self._read(
            "MATCH (d:Device)-[r:REGISTERED]->(s:Scene) "
            "WHERE d.doc IS NOT NULL "
            "AND ($scene IS NULL OR s.key = $scene) AND ($device IS NULL OR d.key = $device) "
            "RETURN r.doc AS reg, d.doc AS device ORDER BY s.key, d.key",
            scene=scene, device=device,
        )  # fmt: skip
        return [
            (Registration.model_validate_json(r["reg"]), Device.model_validate_json(r["device"]))
            for r in rows
        ]

    async def put_link(self, a: str, b: str, t: DeviceTransform) -> None:
        await self._write(
            "MERGE (x:Scene {key: $a}) MERGE (y:Scene {key: $b}) "
            "WITH x, y OPTIONAL MATCH (y)-[back:LINK]->(x) DELETE back "
            "WITH DISTINCT x, y MERGE (x)-[l:LINK]->(y) SET l.doc = $doc",
            a=a, b=b, doc=_json(t),
        )  # fmt: skip

    async def links(self) -> list[tuple[str, str, DeviceTransform]]:
        rows = await self._read(
            "MATCH (x:Scene)-[l:LINK]->(y:Scene) RETURN x.key AS a, y.key AS b, l.doc AS doc "
            "ORDER BY a, b"
        )
        return [(r["a"], r["b"], DeviceTransform.model_validate_json(r["doc"])) for r in rows]

    async def path_transform(self, a: str, b: str) -> tf.Matrix | None:
        if a == b:
            return tf.IDENTITY
        rows = await self._read(
            "MATCH (x:Scene {key: $a}), (y:Scene {key: $b}) "
            "MATCH p = shortestPath((x)-[:LINK*]-(y)) "
            "RETURN [l IN relationships(p) | [startNode(l).key, endNode(l).key, l.doc]] AS hops",
            a=a, b=b,
        )  # fmt: skip
        if not rows:
            return None
        hops = [(x, y, DeviceTransform.model_validate_json(doc)) for x, y, doc in rows[0]["hops"]]
        return chain(hops, a)
