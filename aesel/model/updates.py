"""Pure functions that apply validated wire input to stored entities.

One place for the merge rules, shared by REST, UDP and WebSocket:

- A field that is not given (``None``) is left as it is. This fixes docs/compat.md §7.10 (an update
  never resets a transform) and 2.2 (a property update no longer blanks fields left out).
- A transform is ``transform`` when given, else the legacy fields composed as T.R.S.
- Actions merge by name and keyframes by frame number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from aesel.model import transform as tf
from aesel.model.entities import (
    GraphHandle,
    Handle,
    Object3D,
    ObjectAction,
    ObjectFrame,
    Property,
    PropertyAction,
    PropertyFrame,
    PropertyValue,
)
from aesel.model.wire import (
    GraphHandleIn,
    ObjectActionIn,
    ObjectFrameIn,
    ObjectIn,
    PropertyActionIn,
    PropertyFrameIn,
    PropertyIn,
)


class InvalidUpdate(ValueError):
    """The input is well-formed but cannot be applied (a missing action name, ...)."""


def object_transform(inp: ObjectIn) -> tuple[float, ...] | None:
    if inp.transform is not None:
        return tuple(inp.transform)
    if inp.has_legacy_transform():
        try:
            return tf.compose_trs(
                inp.translation, inp.quaternion_rotation, inp.euler_rotation, inp.scale
            )
        except ValueError as e:
            raise InvalidUpdate(str(e)) from None
    return None


def _handles(v: Sequence[GraphHandleIn] | Sequence[float] | None) -> tuple[Handle, ...] | None:
    if v is None:
        return None
    return tuple(
        GraphHandle(**h.model_dump(exclude_none=True)) if isinstance(h, GraphHandleIn) else h
        for h in v
    )


def _set(base: dict[str, object], **fields: object) -> dict[str, object]:
    base.update({k: v for k, v in fields.items() if v is not None})
    return base


def _object_frame(old: ObjectFrame | None, f: ObjectFrameIn, frame: int) -> ObjectFrame:
    data = _set(
        old.model_dump() if old else {"frame": frame},
        owner=f.owner,
        transform=tuple(f.transform) if f.transform is not None else None,
        translation_handle=_handles(f.translation_handle),
        rotation_handle=_handles(f.rotation_handle),
        scale_handle=_handles(f.scale_handle),
    )
    return ObjectFrame.model_validate(data)


Action = TypeVar("Action", ObjectAction, PropertyAction)


def _merge_actions(
    actions: dict[str, Action],
    updates: Iterable[ObjectActionIn] | Iterable[PropertyActionIn],
    action_cls: type[Action],
    make_frame: Callable[[Any, Any, int], Any],
) -> dict[str, Action]:
    out = dict(actions)
    for a in updates:
        if not a.name:
            raise InvalidUpdate("action has no name")
        old = out.get(a.name)
        frames: dict[int, Any] = dict(old.keyframes) if old else {}
        for f in a.keyframes or ():
            if f.frame is None:
                raise InvalidUpdate(f"keyframe of action {a.name!r} has no frame")
            frames[f.frame] = make_frame(frames.get(f.frame), f, f.frame)
        out[a.name] = action_cls(
            name=a.name,
            description=a.description
            if a.description is not None
            else (old.description if old else ""),
            owner=a.owner if a.owner is not None else (old.owner if old else ""),
            keyframes=frames,
        )
    return out


def merge_object_actions(
    actions: dict[str, ObjectAction], updates: Iterable[ObjectActionIn]
) -> dict[str, ObjectAction]:
    """Actions with ``updates`` merged in: by action name, then by keyframe number."""
    return _merge_actions(actions, updates, ObjectAction, _object_frame)


def new_object(inp: ObjectIn, key: str, scene: str) -> Object3D:
    return Object3D(
        key=key,
        scene=scene,
        name=inp.name or "",
        type=inp.type or "",
        subtype=inp.subtype or "",
        owner=inp.owner or "",
        parent=inp.parent or "",
        asset_sub_id=inp.asset_sub_id or "",
        assets=tuple(inp.assets or ()),
        transform=object_transform(inp) or tf.IDENTITY,
        actions=merge_object_actions({}, inp.actions or ()),
    )


def update_object(obj: Object3D, inp: ObjectIn) -> Object3D:
    """``obj`` with the fields given in ``inp`` applied (the key and owner never change here)."""
    changes = _set(
        {},
        scene=inp.scene or None,
        name=inp.name,
        type=inp.type,
        subtype=inp.subtype,
        parent=inp.parent,
        asset_sub_id=inp.asset_sub_id,
        assets=tuple(inp.assets) if inp.assets is not None else None,
        transform=object_transform(inp),
        actions=merge_object_actions(obj.actions, inp.actions) if inp.actions else None,
    )
    return obj.model_copy(update=changes) if changes else obj


def _property_frame(old: PropertyFrame | None, f: PropertyFrameIn, frame: int) -> PropertyFrame:
    values = (
        tuple(PropertyValue(**v.model_dump(exclude_none=True)) for v in f.values)
        if f.values is not None
        else None
    )
    data = _set(old.model_dump() if old else {"frame": frame}, owner=f.owner, values=values)
    return PropertyFrame.model_validate(data)


def merge_property_actions(
    actions: dict[str, PropertyAction], updates: Iterable[PropertyActionIn]
) -> dict[str, PropertyAction]:
    return _merge_actions(actions, updates, PropertyAction, _property_frame)


def new_property(inp: PropertyIn, key: str, scene: str) -> Property:
    return Property(
        key=key,
        scene=scene,
        name=inp.name or "",
        parent=inp.parent or "",
        asset_sub_id=inp.asset_sub_id or "",
        values=tuple(inp.plain_values() or ()),
        actions=merge_property_actions({}, inp.actions or ()),
    )


def update_property(prop: Property, inp: PropertyIn) -> Property:
    values = inp.plain_values()
    changes = _set(
        {},
        scene=inp.scene or None,
        name=inp.name,
        parent=inp.parent,
        asset_sub_id=inp.asset_sub_id,
        values=tuple(values) if values is not None else None,
        actions=merge_property_actions(prop.actions, inp.actions) if inp.actions else None,
    )
    return prop.model_copy(update=changes) if changes else prop
