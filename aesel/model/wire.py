"""Inbound wire shapes: Aesel JSON as clients send it, validated in one place.

REST bodies, UDP datagrams and WebSocket messages are all validated with these models.
Rules, chosen so that existing clients (PyAesel, the Blender clients) work unchanged:

- ``null`` means "not given", and so does an empty list where a list of numbers is expected
  (PyAesel sends ``"transform": []`` and ``"values": []`` for unset fields).
- Types are strict: a string where a number is expected is an error, never coerced; an int
  is accepted where a float is expected.
- Unknown keys are errors. Every key an Aesel client is known to send is declared, including
  the legacy object fields and the envelope fields PyAesel echoes back.
- Every number must fit every wire format it may take: NaN, infinities and anything beyond
  float32 (binary frames carry transforms as float32) are refused here, on every path, so a
  value that was accepted can always be stored, sent and read back.
- Text must be valid Unicode: a lone surrogate (``"\\ud800"``) cannot be stored as UTF-8.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

FLOAT32_MAX = 3.4028234663852886e38
"""The largest finite float32; every number on the wire stays within +-FLOAT32_MAX."""


def _empty_is_none(v: Any) -> Any:
    return None if isinstance(v, list) and not v else v


def _float32(v: float) -> float:
    if not -FLOAT32_MAX <= v <= FLOAT32_MAX:  # NaN fails both comparisons
        raise ValueError(f"number is {v!r}, expected a finite number within float32 range")
    return v


def is_float32(v: float) -> bool:
    """Whether ``v`` is finite and within float32 range (the check every number passes)."""
    return -FLOAT32_MAX <= v <= FLOAT32_MAX


def _valid_text(v: Any) -> Any:
    for s in v if isinstance(v, list) else (v,):
        if isinstance(s, str):
            try:
                s.encode()
            except UnicodeEncodeError:
                raise ValueError(
                    "text holds a lone surrogate, expected valid unicode (utf-8)"
                ) from None
    return v


class WireModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    _text = field_validator("*")(classmethod(lambda cls, v: _valid_text(v)))


Float = Annotated[float, AfterValidator(_float32)]
OptFloat = Annotated[Float | None, BeforeValidator(_empty_is_none)]
OptStr = str | None
Vec3 = Annotated[list[Float] | None, BeforeValidator(_empty_is_none)]
Vec4 = Annotated[list[Float] | None, BeforeValidator(_empty_is_none)]
Numbers = Annotated[list[Float] | None, BeforeValidator(_empty_is_none)]


def _check_len(name: str, v: list[float] | None, *allowed: int) -> list[float] | None:
    if v is not None and len(v) not in allowed:
        expected = " or ".join(str(a) for a in allowed)
        raise ValueError(f"{name} has {len(v)} numbers, expected {expected}")
    return v


class GraphHandleIn(WireModel):
    """A Bezier handle of an animation curve."""

    left_type: OptStr = None
    left_x: OptFloat = None
    left_y: OptFloat = None
    right_type: OptStr = None
    right_x: OptFloat = None
    right_y: OptFloat = None


Handles = Annotated[list[GraphHandleIn] | list[Float] | None, BeforeValidator(_empty_is_none)]
# PyAesel 0.3 sends an object's own handles as one handle object each (accepted, not stored)
LegacyHandle = Annotated[
    GraphHandleIn | list[GraphHandleIn] | list[Float] | None, BeforeValidator(_empty_is_none)
]


class ObjectFrameIn(WireModel):
    """A keyframe of an object action."""

    frame: int | None = None
    owner: OptStr = None
    scene: OptStr = None
    transform: Numbers = None
    translation_handle: Handles = None
    rotation_handle: Handles = None
    scale_handle: Handles = None

    @field_validator("transform")
    @classmethod
    def _transform16(cls, v: list[float] | None) -> list[float] | None:
        return _check_len("transform", v, 16)


class ObjectActionIn(WireModel):
    name: OptStr = None
    description: OptStr = None
    owner: OptStr = None
    key: OptStr = None
    scene: OptStr = None
    keyframes: list[ObjectFrameIn] | None = None


class PropertyValueIn(WireModel):
    """One value of a property keyframe, with its curve handles."""

    value: Float
    left_type: OptStr = None
    left_x: OptFloat = None
    left_y: OptFloat = None
    right_type: OptStr = None
    right_x: OptFloat = None
    right_y: OptFloat = None


class PropertyFrameIn(WireModel):
    frame: int | None = None
    owner: OptStr = None
    scene: OptStr = None
    values: Annotated[list[PropertyValueIn] | None, BeforeValidator(_empty_is_none)] = None


class PropertyActionIn(WireModel):
    name: OptStr = None
    description: OptStr = None
    owner: OptStr = None
    key: OptStr = None
    scene: OptStr = None
    keyframes: list[PropertyFrameIn] | None = None


class ObjectIn(WireModel):
    """An object as sent in ``objects[]``, or bare as a UDP event."""

    msg_type: int | None = None
    key: OptStr = None
    name: OptStr = None
    scene: OptStr = None
    type: OptStr = None
    subtype: OptStr = None
    owner: OptStr = None
    parent: OptStr = None
    asset_sub_id: OptStr = None
    assets: list[str] | None = None
    transform: Numbers = None
    actions: list[ObjectActionIn] | None = None
    device: OptStr = None  # aesel: the device sending a UDP/WebSocket event (lock checks)
    # legacy schema (docs/compat.md §2.1.1), composed as T.R.S when transform is absent
    translation: Vec3 = None
    quaternion_rotation: Vec4 = None
    euler_rotation: Vec3 = None
    scale: Vec3 = None
    frame: int | None = None
    timestamp: int | None = None
    translation_handle: LegacyHandle = None
    rotation_handle: LegacyHandle = None
    scale_handle: LegacyHandle = None
    transaction_id: OptStr = None

    @field_validator("transform")
    @classmethod
    def _transform16(cls, v: list[float] | None) -> list[float] | None:
        return _check_len("transform", v, 16)

    @field_validator("translation", "euler_rotation", "scale")
    @classmethod
    def _vec3(cls, v: list[float] | None, info: Any) -> list[float] | None:
        return _check_len(info.field_name, v, 3)

    @field_validator("quaternion_rotation")
    @classmethod
    def _vec4(cls, v: list[float] | None) -> list[float] | None:
        return _check_len("quaternion_rotation", v, 4)

    def has_legacy_transform(self) -> bool:
        return any(
            f is not None
            for f in (self.translation, self.quaternion_rotation, self.euler_rotation, self.scale)
        )


class PropertyIn(WireModel):
    """A property as sent in ``properties[]``, or bare as a UDP event.

    ``values`` takes raw numbers (``[100.0]``, ints included, fixing docs/compat.md §7.12) or value
    objects (``[{"value": 100.0}]``, the documented form PyAesel sends).
    """

    msg_type: int | None = None
    key: OptStr = None
    name: OptStr = None
    parent: OptStr = None
    asset_sub_id: OptStr = None
    scene: OptStr = None
    values: Annotated[
        list[Float] | list[PropertyValueIn] | None, BeforeValidator(_empty_is_none)
    ] = None
    actions: list[PropertyActionIn] | None = None
    device: OptStr = None
    frame: int | None = None
    timestamp: int | None = None
    transaction_id: OptStr = None

    @field_validator("values")
    @classmethod
    def _values(
        cls, v: list[float] | list[PropertyValueIn] | None
    ) -> list[float] | list[PropertyValueIn] | None:
        if v is not None and not 1 <= len(v) <= 4:
            raise ValueError(f"values has {len(v)} entries, expected 1 to 4")
        return v

    def plain_values(self) -> list[float] | None:
        if self.values is None:
            return None
        return [v.value if isinstance(v, PropertyValueIn) else v for v in self.values]


class _Envelope(WireModel):
    """Fields of the list envelope that clients send and aesel ignores or reads."""

    msg_type: int | None = None
    err_code: int | None = None
    err_msg: OptStr = None
    error_code: int | None = None
    error_message: OptStr = None
    transaction_id: OptStr = None
    operation: int | None = None
    num_records: int | None = Field(default=None, ge=0, le=100_000)
    start_record: int | None = Field(default=None, ge=0)
    event_destination_host: OptStr = None
    event_destination_port: int | None = None
    event_destination_key: OptStr = None
    event_destination_salt: OptStr = None


class ObjectList(_Envelope):
    objects: list[ObjectIn] = Field(default_factory=list, max_length=1000)


class PropertyList(_Envelope):
    properties: list[PropertyIn] = Field(default_factory=list, max_length=1000)


class DeviceTransformIn(WireModel):
    translation: Vec3 = None
    rotation: Vec3 = None

    @field_validator("translation", "rotation")
    @classmethod
    def _vec3(cls, v: list[float] | None, info: Any) -> list[float] | None:
        return _check_len(info.field_name, v, 3)


class DeviceIn(WireModel):
    key: OptStr = None
    hostname: OptStr = None
    port: int | None = Field(default=None, ge=0, le=999_999)
    connection_string: OptStr = None
    transform: DeviceTransformIn | None = None
    format: OptStr = None  # aesel: "json" (default, Aesel), "batch" or "binary" datagrams
    frame: OptStr = None  # aesel: "device" sends object transforms in the device's frame
    encryption: OptStr = None  # aesel: "gcm" asks for a per-device AES-256-GCM key


class SceneIn(WireModel):
    key: OptStr = None
    name: OptStr = None
    description: OptStr = None
    thumbnail: OptStr = None
    region: OptStr = None
    active: bool | None = None
    public: bool | None = None
    isPublic: bool | None = None
    private: bool | None = None
    latitude: OptFloat = None
    longitude: OptFloat = None
    distance: OptFloat = None
    assets: list[str] | None = None
    asset_ids: list[str] | None = None
    tags: list[str] | None = None
    user: OptStr = None
    transform: DeviceTransformIn | None = None
    devices: list[DeviceIn] | None = None

    def is_public(self) -> bool | None:
        """``public``, or PyAesel's ``isPublic``, or the inverse of ``private``."""
        if self.public is not None:
            return self.public
        if self.isPublic is not None:
            return self.isPublic
        if self.private is not None:
            return not self.private
        return None

    def asset_list(self) -> list[str] | None:
        return self.assets if self.assets is not None else self.asset_ids


class SceneList(_Envelope):
    scenes: list[SceneIn] = Field(default_factory=list, max_length=1000)
    encryption_password: OptStr = None
    encryption_salt: OptStr = None
    encryption_key: OptStr = None
    encryption_iv: OptStr = None
    decryption_password: OptStr = None
    decryption_salt: OptStr = None
    decryption_key: OptStr = None
    decryption_iv: OptStr = None


class ActionBody(ObjectActionIn):
    """Body of ``POST .../object/{key}/action[/{name}]``."""


class PropertyActionBody(PropertyActionIn):
    """Body of ``POST .../property/{key}/action[/{name}]``."""
