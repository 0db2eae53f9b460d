"""aesel's Python SDK: REST (``AsyncClient``), WebSocket streaming with a live scene mirror
(``Stream``, ``SceneMirror``), UDP devices (``UdpDevice``, encrypted by ``GcmChannel`` or
``CbcCipher``) and a blocking facade (``aesel_client.sync.Client``)."""

from aesel_client.cluster import Node
from aesel_client.crypto import CbcCipher, CryptoError, GcmChannel
from aesel_client.errors import (
    AeselError,
    BadRequest,
    Conflict,
    Forbidden,
    Locked,
    NotFound,
    NothingFound,
    StreamError,
    TooLarge,
    Unauthorized,
)
from aesel_client.mirror import Interest, ObjectState, PropertyState, SceneMirror
from aesel_client.rest import AsyncClient, Property, Registration, Scene, SceneObject
from aesel_client.stream import Stream
from aesel_client.udp import UdpDevice
from aesel_client.wire import IDENTITY, Event, Snapshot, Transform, Welcome

__version__ = "0.1.0"

__all__ = [
    "IDENTITY", "AeselError", "AsyncClient", "BadRequest", "CbcCipher", "Conflict", "CryptoError",
    "Event", "Forbidden", "GcmChannel", "Interest", "Locked", "Node", "NotFound", "NothingFound",
    "ObjectState", "Property", "PropertyState", "Registration", "Scene", "SceneMirror",
    "SceneObject", "Snapshot", "Stream", "StreamError", "TooLarge", "Transform", "UdpDevice",
    "Unauthorized", "Welcome",
]  # fmt: skip
