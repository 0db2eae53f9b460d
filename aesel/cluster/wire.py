"""What the nodes of a cluster write to Kafka, as pure functions over bytes.

Two topics (names from ``--kafka-topic-prefix``, default ``aesel``):

``<prefix>.events``, partitioned by scene (the record key is the scene), one record per
accepted change. The value is the JSON array ``[1, origin, scene, msg_type, key, stamp, wall,
payload]``: ``stamp`` orders the changes of one object across nodes (see
:class:`aesel.cluster.stamps.Stamps`), ``wall`` is the accepting node's wall clock in ns (for
the produce-to-consume lag), ``payload`` the Aesel JSON a device receives. The header ``o``
repeats the origin so a node skips its own records without decoding them.

``<prefix>.state``, compacted, one partition: the cluster's shared state as the latest value
per key, read from the beginning by a node that starts, then followed.

- ``node/<id>``: a heartbeat (:class:`NodeInfo` fields, ``beat`` in ns, ``devices``); a
  null value when the node stops cleanly.
- ``reg/<scene>/<device>``: a registration: the device, ``m_sd`` (scene to device) and the
  ``owner`` node that sends it the scene's datagrams; null when the device leaves the scene.
- ``scene/<key>``: a scene's owner and visibility (``exists`` false once deleted).
- ``revoke/<user>``: a user deleted or deactivated: every node closes their WebSockets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from aesel.cluster.membership import NodeInfo
from aesel.model.entities import Device
from aesel.model.event import Event
from aesel.model.transform import Matrix

EVENTS_VERSION = 1


class BadRecord(ValueError):
    """A record this node cannot read (another version, or damaged)."""


# -- events -------------------------------------------------------------------------------


def encode_event(event: Event, stamp: int, wall: int) -> bytes:
    return orjson.dumps(
        [
            EVENTS_VERSION,
            event.origin,
            event.scene,
            event.msg_type,
            event.key,
            stamp,
            wall,
            event.payload,
        ]
    )


@dataclass(frozen=True, slots=True)
class Remote:
    """An event read from Kafka, before this node numbers it."""

    origin: str
    scene: str
    msg_type: int
    key: str
    stamp: int
    wall: int
    payload: dict[str, Any]


def decode_event(value: bytes) -> Remote:
    try:
        v = orjson.loads(value)
    except orjson.JSONDecodeError as e:
        raise BadRecord(f"event record is not JSON: {e}") from None
    if not isinstance(v, list) or len(v) != 8 or v[0] != EVENTS_VERSION:
        raise BadRecord(f"event record of an unknown shape or version: {str(v)[:80]}")
    _, origin, scene, msg_type, key, stamp, wall, payload = v
    if not (
        isinstance(origin, str)
        and isinstance(scene, str)
        and isinstance(msg_type, int)
        and isinstance(key, str)
        and isinstance(stamp, int)
        and isinstance(wall, int)
        and isinstance(payload, dict)
    ):
        raise BadRecord("event record with a field of the wrong type")
    return Remote(origin, scene, msg_type, key, stamp, wall, payload)


# -- state --------------------------------------------------------------------------------


def node_key(node: str) -> bytes:
    return f"node/{node}".encode()


def reg_key(scene: str, device: str) -> bytes:
    return f"reg/{scene}/{device}".encode()


def scene_key(scene: str) -> bytes:
    return f"scene/{scene}".encode()


def revoke_key(user: str) -> bytes:
    return f"revoke/{user}".encode()


def encode_beat(info: NodeInfo, beat: int, devices: int) -> bytes:
    return orjson.dumps(
        {
            "id": info.id,
            "host": info.host,
            "http_port": info.http_port,
            "udp_port": info.udp_port,
            "ws_port": info.ws_port,
            "started": info.started,
            "beat": beat,
            "devices": devices,
        }
    )


@dataclass(frozen=True, slots=True)
class Beat:
    info: NodeInfo
    beat: int  # the sender's wall clock, ns
    devices: int


def decode_beat(value: bytes) -> Beat:
    try:
        v = orjson.loads(value)
        info = NodeInfo(
            str(v["id"]),
            str(v["host"]),
            int(v["http_port"]),
            int(v["udp_port"]),
            int(v["ws_port"]),
            float(v["started"]),
        )
        return Beat(info, int(v["beat"]), int(v["devices"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise BadRecord(f"heartbeat record: {e!r}") from None


@dataclass(frozen=True, slots=True)
class Reg:
    owner: str
    device: Device
    m_sd: Matrix | None


def encode_reg(owner: str, device: Device, m_sd: Matrix | None) -> bytes:
    return orjson.dumps(
        {
            "owner": owner,
            "device": device.model_dump(mode="json"),
            "m_sd": list(m_sd) if m_sd is not None else None,
        }
    )


def decode_reg(value: bytes) -> Reg:
    try:
        v = orjson.loads(value)
        m = v["m_sd"]
        m_sd = tuple(float(x) for x in m) if m is not None else None
        if m_sd is not None and len(m_sd) != 16:
            raise ValueError("m_sd is not 16 numbers")
        return Reg(str(v["owner"]), Device.model_validate(v["device"]), m_sd)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise BadRecord(f"registration record: {e!r}") from None


def encode_scene(owner: str, public: bool, exists: bool) -> bytes:
    return orjson.dumps({"owner": owner, "public": public, "exists": exists})


def decode_scene(value: bytes) -> tuple[str, bool, bool]:
    try:
        v = orjson.loads(value)
        return str(v["owner"]), bool(v["public"]), bool(v["exists"])
    except (orjson.JSONDecodeError, KeyError, TypeError) as e:
        raise BadRecord(f"scene record: {e!r}") from None
