"""The unit of the streaming path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TOUCH = -1
"""``msg_type`` of a bus record no subscriber sees: it only tells other nodes' caches that a
key changed without an event (a lock, an asset list)."""


@dataclass(slots=True)
class Event:
    """One change to a scene, published once and fanned out to every subscriber.

    Never changed once built (the bus numbers an event by building a new one). Not a frozen
    dataclass only for speed: it is built twice per streamed update, and a frozen one costs
    three to four times as much to build.

    ``payload`` is the Aesel object/property JSON (with ``msg_type``), what a UDP device
    receives. ``seq`` is the per-scene sequence number the bus assigns; ``origin`` names the
    node that accepted the change; ``t_in`` is ``time.perf_counter_ns()`` at ingress.
    """

    scene: str
    msg_type: int
    key: str
    payload: dict[str, Any]
    seq: int = 0
    origin: str = ""
    t_in: int = field(default=0, compare=False)
