"""Merge rules shared by REST, UDP and WebSocket (docs/compat.md §7)."""

from __future__ import annotations

import pytest

from aesel.model import transform as tf
from aesel.model.entities import Object3D
from aesel.model.updates import (
    InvalidUpdate,
    new_object,
    new_property,
    update_object,
    update_property,
)
from aesel.model.wire import ObjectIn, PropertyIn

T = [float(i) for i in range(16)]


def test_update_without_transform_keeps_the_stored_transform() -> None:
    # docs/compat.md §7.10: every update used to reset the transform to identity
    obj = new_object(ObjectIn(name="a", transform=T), "k", "s")
    for upd in (ObjectIn(name="b"), ObjectIn(assets=["x"]), ObjectIn(transform=[])):
        obj = update_object(obj, ObjectIn.model_validate(upd.model_dump(exclude_none=True)))
        assert list(obj.transform) == T


def test_update_changes_only_given_fields() -> None:
    obj = new_object(ObjectIn(name="a", type="mesh", subtype="cube", parent="p"), "k", "s")
    new = update_object(obj, ObjectIn(subtype="sphere"))
    assert (new.name, new.type, new.subtype, new.parent) == ("a", "mesh", "sphere", "p")
    assert new.key == "k" and new.scene == "s"


def test_legacy_fields_compose_when_transform_absent() -> None:
    obj = new_object(ObjectIn(translation=[1, 2, 3], scale=[2, 2, 2]), "k", "s")
    assert tf.close(obj.transform, tf.matmul(tf.translation(1, 2, 3), tf.scale(2, 2, 2)))
    # an explicit transform wins over legacy fields
    obj = new_object(ObjectIn(transform=T, translation=[9, 9, 9]), "k", "s")
    assert list(obj.transform) == T


def test_new_object_defaults_to_identity() -> None:
    assert new_object(ObjectIn(), "k", "s").transform == tf.IDENTITY


def test_actions_merge_by_name_and_keyframes_by_frame() -> None:
    obj = new_object(
        ObjectIn.model_validate(
            {
                "actions": [
                    {
                        "name": "walk",
                        "description": "d",
                        "keyframes": [{"frame": 1, "transform": T}],
                    }
                ]
            }
        ),
        "k",
        "s",
    )
    obj = update_object(
        obj,
        ObjectIn.model_validate(
            {
                "actions": [
                    {"name": "walk", "keyframes": [{"frame": 2}, {"frame": 1, "owner": "d1"}]}
                ]
            }
        ),
    )
    walk = obj.actions["walk"]
    assert walk.description == "d"
    assert sorted(walk.keyframes) == [1, 2]
    assert list(walk.keyframes[1].transform) == T and walk.keyframes[1].owner == "d1"
    assert walk.keyframes[2].transform == tf.IDENTITY


def test_action_without_name_is_invalid() -> None:
    with pytest.raises(InvalidUpdate, match="action has no name"):
        new_object(ObjectIn.model_validate({"actions": [{"description": "x"}]}), "k", "s")


def test_keyframe_without_frame_is_invalid() -> None:
    with pytest.raises(InvalidUpdate, match="has no frame"):
        new_object(
            ObjectIn.model_validate({"actions": [{"name": "a", "keyframes": [{}]}]}), "k", "s"
        )


def test_property_update_is_partial() -> None:
    # docs/compat.md §2.2: a property update used to blank every field it did not name
    prop = new_property(PropertyIn(name="p", parent="o", values=[1.0, 2.0]), "k", "s")
    new = update_property(prop, PropertyIn(name="q"))
    assert (new.name, new.parent, new.values) == ("q", "o", (1.0, 2.0))


def test_entities_are_immutable() -> None:
    obj = Object3D(key="k")
    with pytest.raises(ValueError):
        obj.name = "x"  # type: ignore[misc]
