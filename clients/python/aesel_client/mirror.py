"""A local copy of one scene, kept current by the stream (no I/O).

A game loop reads ``mirror.objects[key].transform`` whenever it likes; the stream replaces the
contents on every snapshot and applies every live event in between. Between a disconnect and
the next snapshot the mirror keeps its last state (``synced`` is False meanwhile).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aesel_client.wire import IDENTITY, Event, Snapshot, Transform, is_next, translation


@dataclass(slots=True)
class ObjectState:
    key: str
    name: str = ""
    transform: Transform = IDENTITY
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class PropertyState:
    key: str
    name: str = ""
    values: tuple[float, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Interest:
    """Only objects within ``radius`` of ``center`` are streamed."""

    center: tuple[float, float, float]
    radius: float

    def contains(self, transform: Sequence[float]) -> bool:
        return math.dist(self.center, translation(transform)) <= self.radius


class SceneMirror:
    """Objects and properties of one scene, with the ``(epoch, seq)`` the stream is at."""

    def __init__(self, scene: str, interest: Interest | None = None) -> None:
        self.scene = scene
        self.interest = interest
        self.objects: dict[str, ObjectState] = {}
        self.properties: dict[str, PropertyState] = {}
        self.epoch = 0
        self.seq = 0
        self.synced = False
        """True from a snapshot until a gap, a disconnect or a resync request."""
        self.snapshots = 0

    def load(self, snap: Snapshot) -> None:
        """Replace everything with a snapshot's state."""
        self.objects = {o["key"]: _object(o) for o in snap.objects}
        self.properties = {p["key"]: _property(p) for p in snap.properties}
        self.epoch, self.seq, self.synced = snap.epoch, snap.seq, True
        self.snapshots += 1

    def accept(self, ev: Event) -> bool:
        """Track ``(epoch, seq)``; False when the event shows something was missed.

        With an interest filter the server skips events outside the radius, so seq gaps are
        normal there and only an epoch change (a restart) counts.
        """
        if not self.synced:
            return False
        ok = ev.epoch == self.epoch and (self.interest is not None or is_next(self.seq, ev.seq))
        self.seq = ev.seq
        if not ok:
            self.synced = False
        return ok

    def apply(self, ev: Event) -> None:
        """Apply one accepted event."""
        if ev.is_property:
            if ev.is_delete:
                self.properties.pop(ev.key, None)
                return
            p = self.properties.get(ev.key) or self.properties.setdefault(
                ev.key, PropertyState(ev.key)
            )
            p.data.update(ev.data)
            p.name = str(p.data.get("name", p.name))
            values = ev.data.get("values")
            if isinstance(values, list):
                p.values = tuple(_number(v) for v in values)
            return
        if ev.is_delete:
            self.objects.pop(ev.key, None)
            return
        if self.interest and ev.transform and not self.interest.contains(ev.transform):
            self.objects.pop(ev.key, None)  # it left the radius: the server sends nothing more
            return
        o = self.objects.get(ev.key) or self.objects.setdefault(ev.key, ObjectState(ev.key))
        o.data.update(ev.data)
        o.name = str(o.data.get("name", o.name))
        if ev.transform is not None:
            o.transform = ev.transform


def _number(v: Any) -> float:
    return float(v["value"]) if isinstance(v, Mapping) else float(v)


def _object(doc: Mapping[str, Any]) -> ObjectState:
    t = doc.get("transform")
    transform = tuple(float(x) for x in t) if isinstance(t, list) and len(t) == 16 else IDENTITY
    return ObjectState(str(doc["key"]), str(doc.get("name", "")), transform, dict(doc))


def _property(doc: Mapping[str, Any]) -> PropertyState:
    values = tuple(_number(v) for v in doc.get("values", []))
    return PropertyState(str(doc["key"]), str(doc.get("name", "")), values, dict(doc))
