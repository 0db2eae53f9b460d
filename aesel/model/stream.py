"""Values of the streaming path shared by the hub, the WebSocket session and devices."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Format(StrEnum):
    """Wire formats a subscriber (a UDP device or a WebSocket subscription) may choose."""

    JSON = "json"  # UDP: one Aesel JSON event per datagram; WebSocket: JSON frames
    BATCH = "batch"  # UDP only: newline-separated Aesel JSON, datagrams < 1200 bytes
    BINARY = "binary"  # compact binary frames (float32 transforms)


@dataclass(frozen=True, slots=True)
class Interest:
    """Only objects whose translation lies within ``radius`` of ``center``."""

    center: tuple[float, float, float]
    radius: float

    def contains(self, pos: tuple[float, float, float] | None) -> bool:
        if pos is None:
            return True  # not a positioned event (properties, deletes): always relevant
        dx, dy, dz = pos[0] - self.center[0], pos[1] - self.center[1], pos[2] - self.center[2]
        return dx * dx + dy * dy + dz * dz <= self.radius * self.radius
