"""Identifier types, in one place."""

import os
import time
import uuid
from typing import NewType

SceneKey = NewType("SceneKey", str)
ObjectKey = NewType("ObjectKey", str)
PropertyKey = NewType("PropertyKey", str)
DeviceKey = NewType("DeviceKey", str)


def new_object_id() -> str:
    """A 24-hex-digit id shaped like a MongoDB ObjectId (4 bytes of time, 8 random).

    CLyman keys are ObjectIds and some clients check their shape, so aesel keeps it.
    """
    return int(time.time()).to_bytes(4, "big").hex() + os.urandom(8).hex()


def new_uuid() -> str:
    return str(uuid.uuid4())
