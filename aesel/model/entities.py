"""Stored state: objects, properties, scenes, devices and registrations.

Entities are immutable pydantic models: a change makes a new value (``model_copy``), so a
value handed to the write-behind queue or to the bus can never change under it. ``to_json``
gives the Aesel output shape (reference sections 2.1 to 2.4) with the fixes of decisions
section 2 (``parent`` and ``asset_sub_id`` are output, the transform is the stored one).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aesel.model import transform as tf


class Entity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class GraphHandle(Entity):
    left_type: str = ""
    left_x: float = 0.0
    left_y: float = 0.0
    right_type: str = ""
    right_x: float = 0.0
    right_y: float = 0.0


Handle = GraphHandle | float


class ObjectFrame(Entity):
    frame: int
    owner: str = ""
    transform: tuple[float, ...] = tf.IDENTITY
    translation_handle: tuple[Handle, ...] = ()
    rotation_handle: tuple[Handle, ...] = ()
    scale_handle: tuple[Handle, ...] = ()


class ObjectAction(Entity):
    name: str
    description: str = ""
    owner: str = ""
    keyframes: dict[int, ObjectFrame] = Field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "owner": self.owner,
            "keyframes": [
                self.keyframes[f].model_dump(mode="json") for f in sorted(self.keyframes)
            ],
        }


class PropertyValue(Entity):
    value: float
    left_type: str = ""
    left_x: float = 0.0
    left_y: float = 0.0
    right_type: str = ""
    right_x: float = 0.0
    right_y: float = 0.0


class PropertyFrame(Entity):
    frame: int
    owner: str = ""
    values: tuple[PropertyValue, ...] = ()


class PropertyAction(Entity):
    name: str
    description: str = ""
    owner: str = ""
    keyframes: dict[int, PropertyFrame] = Field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "owner": self.owner,
            "keyframes": [
                self.keyframes[f].model_dump(mode="json") for f in sorted(self.keyframes)
            ],
        }


class Object3D(Entity):
    key: str
    scene: str = ""
    name: str = ""
    type: str = ""
    subtype: str = ""
    owner: str = ""  # lock holder (a device key); "" = unlocked
    parent: str = ""
    asset_sub_id: str = ""
    assets: tuple[str, ...] = ()
    transform: tuple[float, ...] = tf.IDENTITY
    actions: dict[str, ObjectAction] = Field(default_factory=dict)

    def with_transform(self, transform: tuple[float, ...]) -> Object3D:
        """This object, moved: ``model_copy(update={"transform": transform})`` at under half
        its cost (the streaming path makes one per update: 1.3 against 3.4 us). Nothing is
        validated: ``transform`` is 16 floats already, as a decoded update's is. It builds
        the copy as ``BaseModel.__copy__`` does (``tests/unit/test_entities.py`` holds it to
        ``model_copy``'s result)."""
        new = object.__new__(Object3D)
        state = self.__dict__.copy()
        state["transform"] = transform
        _set = object.__setattr__
        _set(new, "__dict__", state)
        _set(new, "__pydantic_fields_set__", {*self.__pydantic_fields_set__, "transform"})
        _set(new, "__pydantic_extra__", None)
        _set(new, "__pydantic_private__", None)
        return new

    def to_json(self, *, actions: bool = True) -> dict[str, Any]:
        """The Aesel object JSON; ``actions=False`` leaves actions out (stream events)."""
        return {
            "key": self.key,
            "name": self.name,
            "scene": self.scene,
            "type": self.type,
            "subtype": self.subtype,
            "owner": self.owner,
            "parent": self.parent,
            "asset_sub_id": self.asset_sub_id,
            "transform": list(self.transform),
            "assets": list(self.assets),
            "actions": [a.to_json() for a in self.actions.values()] if actions else [],
        }


class Property(Entity):
    key: str
    scene: str = ""
    name: str = ""
    parent: str = ""
    asset_sub_id: str = ""
    values: tuple[float, ...] = ()
    actions: dict[str, PropertyAction] = Field(default_factory=dict)

    def to_json(self, *, actions: bool = True) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "scene": self.scene,
            "parent": self.parent,
            "asset_sub_id": self.asset_sub_id,
            "values": list(self.values),
            "actions": [a.to_json() for a in self.actions.values()] if actions else [],
        }


class DeviceTransform(Entity):
    """A device's or scene link's pose: translation and Euler XYZ rotation (radians)."""

    translation: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def matrix(self) -> tf.Matrix:
        return tf.rigid(self.translation, self.rotation)

    @classmethod
    def from_matrix(cls, m: tf.Matrix) -> DeviceTransform:
        t, r = tf.split_rigid(m)
        return cls(translation=(t[0], t[1], t[2]), rotation=(r[0], r[1], r[2]))

    def to_json(self) -> dict[str, Any]:
        return {"translation": list(self.translation), "rotation": list(self.rotation)}


class Scene(Entity):
    key: str
    name: str = ""
    description: str = ""
    thumbnail: str = ""
    region: str = ""
    user: str = ""
    active: bool = True
    public: bool = True
    latitude: float | None = None
    longitude: float | None = None
    assets: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "name": self.name,
            "description": self.description,
            "thumbnail": self.thumbnail,
            "region": self.region,
            "active": self.active,
            "public": self.public,
            "distance": 0.0,
            "assets": list(self.assets),
            "tags": list(self.tags),
            "devices": [],
        }
        if self.user:
            out["user"] = self.user
        if self.latitude is not None:
            out["latitude"] = self.latitude
        if self.longitude is not None:
            out["longitude"] = self.longitude
        return out


class Device(Entity):
    """A device that receives events: ``host`` is the resolved address of ``hostname``."""

    key: str
    hostname: str = ""
    host: str = ""
    port: int = 0
    connection_string: str = ""
    format: str = "json"  # aesel: json (Aesel), batch or binary datagrams
    encryption: str = ""  # aesel: "" (the node's default) or "gcm"
    gcm_key: str = ""  # aesel: the device's AES-256-GCM key, Base64
    user: str = ""  # aesel: the id of the user who registered it ("" with auth off)
    frame: str = ""  # aesel: "device": object transforms arrive in the device's frame

    @property
    def addr(self) -> tuple[str, int] | None:
        return (self.host, self.port) if self.host and 0 < self.port < 65536 else None


class Registration(Entity):
    """Device ``device`` is registered to scene ``scene``; ``transform`` maps scene to device."""

    scene: str
    device: str
    transform: DeviceTransform = DeviceTransform()
