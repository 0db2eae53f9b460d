"""Store contracts.

Every backend (the embedded SQLite store, the default; MongoDB for objects and properties and
Neo4j for the scene graph, for scale-out) implements these Protocols and passes the same
contract suite, ``tests/contract/``.

Semantics every implementation keeps:

- **Durability.** When an ``async`` write returns, the write survives a crash of the aesel
  process (``kill -9``).
- **Failed writes.** A write that raises :class:`aesel.errors.BackendUnavailable` has an
  *unknown* outcome: over a network, the server may have applied it before the answer was
  lost, and a cancelled write may have happened too. Every write is idempotent, so retrying it
  is always safe. (On the embedded store a write that raises did not happen.)
- **Atomicity.** ``put_objects``/``put_properties`` write the whole batch or nothing.
- **Idempotency.** ``put_*`` are upserts by key: writing the same value twice is harmless, and
  the write-behind flusher relies on this to retry.
- **Conditional writes.** ``insert_scene`` refuses an existing key with
  :class:`aesel.errors.Conflict`, atomically: of two nodes creating one key, exactly one wins.
- **Ordering.** Writes issued by one caller are applied in the order issued.
- **Errors.** Driver errors are translated once, at the backend boundary, to
  :class:`aesel.errors.BackendUnavailable` (unreachable, timed out, refused) or
  :class:`aesel.errors.Conflict` (a uniqueness rule). No call waits longer than the backend's
  bounded timeout (seconds, not minutes) before raising.
- **Limits.** Queries return at most ``limit`` records, exactly that many when enough match
  (fixing docs/compat.md §7.12), ordered by key. Backends push filters into their query
  (indexes); the ``matches`` methods of the filters below are the reference semantics the
  contract suite checks against.
- **Geo.** Distances are great-circle metres by :func:`distance_m` (haversine on a sphere of
  diameter :data:`EARTH_DIAMETER_M`); the radius is exclusive: a scene exactly ``distance``
  metres away does not match.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from aesel.model import transform as tf
from aesel.model.entities import (
    Device,
    DeviceTransform,
    Object3D,
    Property,
    Registration,
    Scene,
)


@dataclass(frozen=True, slots=True)
class ObjectFilter:
    """Exact-match AND over the given fields (docs/compat.md §5).

    ``assets`` with one id means "contains"; with more, the list must match exactly.
    """

    scene: str | None = None
    name: str | None = None
    type: str | None = None
    subtype: str | None = None
    owner: str | None = None
    parent: str | None = None
    asset_sub_id: str | None = None
    assets: tuple[str, ...] | None = None

    def matches(self, o: Object3D) -> bool:
        for field in ("scene", "name", "type", "subtype", "owner", "parent", "asset_sub_id"):
            want = getattr(self, field)
            if want is not None and getattr(o, field) != want:
                return False
        if self.assets:
            if len(self.assets) == 1:
                return self.assets[0] in o.assets
            return tuple(self.assets) == tuple(o.assets)
        return True


@dataclass(frozen=True, slots=True)
class PropertyFilter:
    scene: str | None = None
    name: str | None = None
    parent: str | None = None
    asset_sub_id: str | None = None

    def matches(self, p: Property) -> bool:
        return all(
            want is None or getattr(p, field) == want
            for field, want in (
                ("scene", self.scene),
                ("name", self.name),
                ("parent", self.parent),
                ("asset_sub_id", self.asset_sub_id),
            )
        )


EARTH_DIAMETER_M = 12_742_000.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres, by the haversine formula Crazy Ivan used."""

    def hav(x: float) -> float:
        return math.sin(x / 2) ** 2

    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = hav(p2 - p1) + math.cos(p1) * math.cos(p2) * hav(math.radians(lon2 - lon1))
    return EARTH_DIAMETER_M * math.asin(math.sqrt(min(1.0, max(0.0, h))))


def visible(owner: str, public: bool, principal: str | None, see_all: bool) -> bool:
    """The visibility rule a store pushes into its queries: the same as
    ``aesel.services.policy`` decides for READ (public, the principal's own, or everything)."""
    return public or see_all or (principal is not None and owner == principal)


@dataclass(frozen=True, slots=True)
class SceneFilter:
    """A scene query (docs/compat.md §5), with ``distance`` in metres.

    ``key`` is an aesel addition: the Blender client sends it to find one scene.

    Visibility: a scene matches when it is public, or owned by ``principal``, or when
    ``see_all`` is set (auth off). ``public`` narrows to public or private scenes.
    """

    key: str | None = None
    name: str | None = None
    region: str | None = None
    tags: tuple[str, ...] = ()
    latitude: float | None = None
    longitude: float | None = None
    distance: float | None = None
    public: bool | None = None
    principal: str | None = None
    see_all: bool = True

    def matches(self, s: Scene) -> bool:
        if self.key is not None and s.key != self.key:
            return False
        if self.name is not None and s.name != self.name:
            return False
        if self.region is not None and s.region != self.region:
            return False
        if self.public is not None and s.public != self.public:
            return False
        if not visible(s.user, s.public, self.principal, self.see_all):
            return False
        if self.tags and not all(t in s.tags for t in self.tags):
            return False
        if self.latitude is not None and self.longitude is not None and (self.distance or 0) > 0:
            if s.latitude is None or s.longitude is None:
                return False
            d = distance_m(self.latitude, self.longitude, s.latitude, s.longitude)
            if d >= (self.distance or 0):
                return False
        return True

    def box(self) -> tuple[float, float, float, float] | None:
        """``(lat_min, lat_max, lon_min, lon_max)`` in degrees holding every scene within
        ``distance`` (with a small margin), for an index prefilter; ``None`` when the query
        has no distance. Near a pole or across the antimeridian longitude spans -180..180."""
        if self.latitude is None or self.longitude is None or not (self.distance or 0) > 0:
            return None
        arc = math.degrees(2 * (self.distance or 0) / EARTH_DIAMETER_M) * 1.001 + 1e-9
        lat_min, lat_max = self.latitude - arc, self.latitude + arc
        if lat_min <= -90 or lat_max >= 90:
            return max(lat_min, -90.0), min(lat_max, 90.0), -180.0, 180.0
        widest = max(abs(lat_min), abs(lat_max))
        dlon = (
            math.degrees(
                math.asin(min(1.0, math.sin(math.radians(arc)) / math.cos(math.radians(widest))))
            )
            * 1.001
            + 1e-9
        )
        lon_min, lon_max = self.longitude - dlon, self.longitude + dlon
        if lon_min < -180 or lon_max > 180:
            return lat_min, lat_max, -180.0, 180.0
        return lat_min, lat_max, lon_min, lon_max


def chain(hops: Sequence[tuple[str, str, DeviceTransform]], start: str) -> tf.Matrix:
    """The matrix of a chain of links walked from ``start``: each hop ``(a, b, t)`` is a
    stored link, taken forwards when the walk is at ``a`` and backwards (inverse) at ``b``."""
    m, at = tf.IDENTITY, start
    for a, b, t in hops:
        step = t.matrix() if at == a else tf.inverse(t.matrix())
        m, at = tf.matmul(step, m), (b if at == a else a)
    return m


def shortest_chain(
    links: Sequence[tuple[str, str, DeviceTransform]], a: str, b: str
) -> tf.Matrix | None:
    """``M_a->b`` by breadth-first search over ``links``: :meth:`SceneStore.path_transform`
    in Python, for backends without a graph query."""
    graph: dict[str, list[tuple[str, tuple[str, str, DeviceTransform]]]] = {}
    for link in links:
        graph.setdefault(link[0], []).append((link[1], link))
        graph.setdefault(link[1], []).append((link[0], link))
    hops: dict[str, list[tuple[str, str, DeviceTransform]]] = {a: []}
    todo = deque([a])
    while todo:
        at = todo.popleft()
        if at == b:
            return chain(hops[at], a)
        for nxt, link in graph.get(at, ()):
            if nxt not in hops:
                hops[nxt] = [*hops[at], link]
                todo.append(nxt)
    return None


class ObjectStore(Protocol):
    async def get_object(self, key: str) -> Object3D | None: ...

    async def put_objects(self, objects: Sequence[Object3D]) -> None:
        """Upsert the batch atomically; durable on return."""

    async def delete_object(self, key: str) -> bool:
        """Delete by key; ``False`` when there was none."""

    async def query_objects(self, filters: Sequence[ObjectFilter], limit: int) -> list[Object3D]:
        """Objects matching any of ``filters`` (each an AND), at most ``limit``, by key."""

    async def put_objects_versioned(self, objects: Sequence[tuple[Object3D, int]]) -> list[str]:
        """Upsert each ``(object, version)`` unless the store holds that key at the same or a
        higher version; returns the keys left alone (stale). Per object, not atomic as a
        batch; idempotent. Writers that may race (a REST write and a write-behind flush on
        pooled connections, or two nodes) use it so an older snapshot can never overwrite a
        newer one. :meth:`put_objects` stores version 0."""

    async def get_objects(self, keys: Sequence[str]) -> list[Object3D]:
        """The stored objects among ``keys``, by key, in one round trip."""

    async def swap_object_owner(self, key: str, expected: str, owner: str) -> Object3D | None:
        """Compare-and-set of the lock holder: when the object's ``owner`` is ``expected``,
        set it to ``owner`` and return the updated object; ``None`` when the object is absent
        or its owner is another. Atomic: of two nodes taking one free lock, one wins. The
        stored version is kept."""


class PropertyStore(Protocol):
    async def get_property(self, key: str) -> Property | None: ...

    async def put_properties(self, properties: Sequence[Property]) -> None: ...

    async def put_properties_versioned(
        self, properties: Sequence[tuple[Property, int]]
    ) -> list[str]:
        """As :meth:`ObjectStore.put_objects_versioned`, for properties."""

    async def get_properties(self, keys: Sequence[str]) -> list[Property]:
        """The stored properties among ``keys``, by key, in one round trip."""

    async def delete_property(self, key: str) -> bool: ...

    async def query_properties(
        self, filters: Sequence[PropertyFilter], limit: int
    ) -> list[Property]:
        """Properties matching any of ``filters``, at most ``limit``, by key."""


class SceneStore(Protocol):
    """Scenes, devices, registrations and scene links (Crazy Ivan's graph)."""

    async def get_scene(self, key: str) -> Scene | None: ...

    async def put_scene(self, scene: Scene) -> None:
        """Upsert ``scene`` by key (an update of a scene the caller has read)."""

    async def insert_scene(self, scene: Scene) -> None:
        """Create ``scene``; :class:`aesel.errors.Conflict` when its key exists, and then the
        stored scene is unchanged (atomically: two nodes creating one key cannot both
        succeed)."""

    async def delete_scene(self, key: str) -> bool:
        """Delete the scene with its registrations and links (devices stay)."""

    async def query_scenes(self, f: SceneFilter, start: int, limit: int) -> list[Scene]: ...

    async def get_device(self, key: str) -> Device | None: ...

    async def put_device(self, device: Device) -> None: ...

    async def put_registration(self, reg: Registration) -> None: ...

    async def delete_registration(self, scene: str, device: str) -> bool: ...

    async def registrations(
        self, *, scene: str | None = None, device: str | None = None
    ) -> list[Registration]:
        """Registrations filtered by scene and/or device; all of them with neither."""

    async def registrations_with_devices(
        self, *, scene: str | None = None, device: str | None = None
    ) -> list[tuple[Registration, Device]]:
        """As :meth:`registrations`, each with its device, in one round trip; a registration
        whose device is not stored is left out. Ordered by scene, then device."""

    async def put_link(self, a: str, b: str, t: DeviceTransform) -> None:
        """Store the link ``a -> b``: ``t`` maps scene ``a`` coordinates to scene ``b``'s.

        The reverse link ``b -> a``, if any, is replaced: there is one link per pair.
        """

    async def links(self) -> list[tuple[str, str, DeviceTransform]]: ...

    async def path_transform(self, a: str, b: str) -> tf.Matrix | None:
        """``M_a->b``, mapping scene ``a`` coordinates to scene ``b``'s, along the shortest
        chain of links, each usable both ways (backwards by its inverse); the identity when
        ``a == b``; ``None`` when no chain joins them. One store query, not a walk per link.
        Which chain is taken among several of the same length is unspecified."""


class ReplayFloorStore(Protocol):
    """The replay floor of each GCM device key: the highest sequence the node accepted.

    Keys are ``aesel.udp.crypto.key_id`` strings. A floor only rises: the node refuses every
    datagram at or below it after a restart, so lowering one would let old datagrams replay.
    Several nodes sharing a key may advance its floor concurrently; the highest value wins.
    """

    async def replay_floors(self) -> dict[str, int]:
        """Every stored floor, by key id."""

    async def advance_replay_floors(self, marks: Mapping[str, int]) -> None:
        """Raise each key's floor to its mark (a lower mark leaves the floor); durable on return."""


class Pingable(Protocol):
    """A backend that can say whether its server answers (health checks)."""

    async def ping(self) -> None:
        """Return when the server answers; :class:`aesel.errors.BackendUnavailable` when it
        does not within the backend's timeout."""


class ContentStore(ObjectStore, PropertyStore, ReplayFloorStore, Protocol):
    """Objects, properties and replay floors: what MongoDB holds in a cluster."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...


class GraphStore(SceneStore, Protocol):
    """Scenes, devices, registrations and links: what Neo4j holds in a cluster."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...


class Store(ObjectStore, PropertyStore, SceneStore, ReplayFloorStore, Protocol):
    """Everything the core server needs from a backend (the embedded store is all of it)."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    """A stored recording: ``started`` in Unix nanoseconds, ``size`` in bytes; ``active``
    while the recorder still appends to it."""

    id: str
    scene: str
    started: int
    size: int
    active: bool


class RecordingStore(Protocol):
    """Durable storage of recordings (the bytes of ``aesel.model.recording``), a separate
    capability from :class:`Store` (the embedded store keeps files; GridFS may implement it).

    A recording is written by one recorder, in order: ``create_recording`` with its first
    bytes, ``append_recording`` of whole records, ``finish_recording``. Appends are durable
    against a crash of the aesel process when they return (not necessarily against power loss
    before ``finish_recording``). The store does not interpret the bytes, except
    ``recover_recordings``, which trims a recording left active by a crash to its last whole
    record (``aesel.model.recording.complete_prefix``) and finishes it.

    Failures (``BackendUnavailable``: the store is away, the disk full) are retried by the
    caller, so every write is redoable; see each method.
    """

    async def create_recording(self, info: RecordingInfo, first: bytes) -> None:
        """A new active recording holding ``first``; when it raises, the caller gives up on it
        (it may stay listed, active, until the next ``recover_recordings`` finishes it)."""

    async def append_recording(self, id: str, data: bytes) -> None:
        """``data`` after everything appended so far, all of it when it returns. When it
        raises, the caller's next call for ``id`` is the same ``data`` again (a retry), and the
        recording holds it once, whether or not the failed attempt reached the store: a torn
        append is cut back, a landed one is overwritten."""

    async def finish_recording(self, id: str) -> None:
        """Durable and no longer active. When it raises, the recording is still active, holds
        every append, and ``finish_recording`` may be called again."""

    async def recordings(self, scene: str | None = None) -> list[RecordingInfo]:
        """The stored recordings (of ``scene``, or all), oldest first."""

    async def read_recording(self, id: str) -> bytes | None:
        """The whole recording, or ``None`` when there is none with that id."""

    async def delete_recording(self, id: str) -> bool: ...

    async def recover_recordings(self) -> int:
        """Finish every recording a crash left active; returns how many."""
