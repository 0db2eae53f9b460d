"""Stored values: the streaming path's fast copy is the copy pydantic makes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aesel.model.entities import Object3D, ObjectAction

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
