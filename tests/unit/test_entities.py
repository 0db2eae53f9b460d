"""Stored values: the streaming path's fast copy and fast document are pydantic's own."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aesel.model.entities import (
    GraphHandle,
    Object3D,
    ObjectAction,
    ObjectFrame,
    Property,
    PropertyAction,
    PropertyFrame,
    PropertyValue,
)
from aesel.storage.embedded.db import dump, dump_state

MOVED = tuple(float(i) for i in range(16))


def test_with_transform_is_model_copy() -> None:
    obj = Object3D(
        key="k", scene="s", name="n", owner="d", assets=("a",),
        actions={"go": ObjectAction(name="go", description="x")},
    )  # fmt: skip
    fast, slow = obj.with_transform(MOVED), obj.model_copy(update={"transform": MOVED})
    assert fast == slow and fast.model_dump() == slow.model_dump()
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.to_json() == slow.to_json() and fast.transform == MOVED
    assert obj.transform != MOVED  # the original is untouched


def test_a_copy_is_as_frozen_as_the_original() -> None:
    fast = Object3D(key="k").with_transform(MOVED)
    with pytest.raises(ValidationError):
        fast.name = "renamed"  # type: ignore[misc]
    assert fast.model_copy(update={"name": "renamed"}).name == "renamed"
    assert "transform" not in Object3D(key="k").model_fields_set


def test_the_written_behind_document_is_the_stored_document() -> None:
    frame = ObjectFrame(
        frame=3, owner="d", transform=MOVED,
        translation_handle=(GraphHandle(left_type="x", left_x=0.5), 1.5, 2.0),
    )  # fmt: skip
    obj = Object3D(
        key="k", scene="s", name="n", parent="p", asset_sub_id="a", assets=("x", "y"),
        actions={"go": ObjectAction(name="go", keyframes={3: frame, 10: ObjectFrame(frame=10)})},
    ).with_transform(MOVED)  # fmt: skip
    value = PropertyValue(value=2.5, left_type="l", right_x=-1.0)
    keyframes = {1: PropertyFrame(frame=1, values=(value,))}
    prop = Property(
        key="p", scene="s", values=(1.0, -2.5e30),
        actions={"a": PropertyAction(name="a", keyframes=keyframes)},
    )  # fmt: skip
    for entity in (obj, prop, Object3D(key="bare"), Property(key="bare")):
        assert dump_state(entity) == dump(entity)
        assert type(entity).model_validate_json(dump_state(entity)) == entity
