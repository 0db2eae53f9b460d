"""Validation of inbound Aesel JSON: what existing clients send is accepted, the rest refused."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from aesel.model.wire import ObjectIn, ObjectList, PropertyIn, SceneIn, SceneList


def test_pyaesel_object_shape_is_accepted() -> None:
    # what PyAesel's AeselDataList.to_dict("objects") sends for a new object
    body = {
        "num_records": 1, "start_record": 0, "error_code": None, "error_message": None,
        "event_destination_port": None, "event_destination_key": None,
        "event_destination_salt": None,
        "objects": [{"key": None, "name": "cube", "scene": "s", "type": "mesh", "subtype": "cube",
                     "transform": [], "actions": [], "frame": 0, "translation": [1, 1, 1]}],
    }  # fmt: skip
    obj = ObjectList.model_validate(body).objects[0]
    assert obj.transform is None
    assert obj.translation == [1.0, 1.0, 1.0]
    assert obj.has_legacy_transform()


def test_pyaesel_03_object_shape_is_accepted() -> None:
    # PyAesel 0.3 (pinned by the Blender clients): the legacy fields, and each object-level
    # handle as one AeselGraphHandle (whose right_y defaults to [])
    handle = {"left_type": "BEZIER", "left_x": 1.0, "left_y": 1.0, "right_type": None,
              "right_x": None, "right_y": []}  # fmt: skip
    body = {"key": None, "name": "cube", "scene": "s", "type": None, "subtype": None,
            "frame": 0, "timestamp": None, "transform": [], "translation": [1, 1, 1],
            "euler_rotation": [], "quaternion_rotation": [], "scale": [],
            "translation_handle": handle, "rotation_handle": handle,
            "scale_handle": handle}  # fmt: skip
    obj = ObjectIn.model_validate(body)
    assert obj.translation == [1.0, 1.0, 1.0] and obj.euler_rotation is None
    with pytest.raises(ValidationError):
        ObjectIn.model_validate({"translation_handle": {"left_x": "one"}})


def test_ints_are_accepted_as_numbers() -> None:
    assert ObjectIn.model_validate({"transform": list(range(16))}).transform == [
        float(i) for i in range(16)
    ]
    assert PropertyIn.model_validate({"values": [100]}).plain_values() == [100.0]


def test_property_values_as_value_objects() -> None:
    p = PropertyIn.model_validate({"values": [{"value": 1.5, "left_type": None}, {"value": 2}]})
    assert p.plain_values() == [1.5, 2.0]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"transform": [1.0] * 12}, "transform has 12 numbers, expected 16"),
        ({"transform": ["1"] * 16}, "valid number"),
        ({"name": 5}, "valid string"),
        ({"colour": "red"}, "extra inputs are not permitted"),
        ({"translation": [1, 2]}, "translation has 2 numbers, expected 3"),
        ({"quaternion_rotation": [1, 0, 0]}, "quaternion_rotation has 3 numbers, expected 4"),
        ({"transform": [True] * 16}, "valid number"),
    ],
)
def test_bad_objects_are_refused(doc: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as e:
        ObjectIn.model_validate(doc)
    assert message.lower() in str(e.value).lower()


def test_property_values_are_bounded() -> None:
    with pytest.raises(ValidationError, match="values has 5 entries, expected 1 to 4"):
        PropertyIn.model_validate({"values": [1, 2, 3, 4, 5]})


def test_scene_public_spellings() -> None:
    assert SceneIn.model_validate({"public": False}).is_public() is False
    assert SceneIn.model_validate({"isPublic": False}).is_public() is False
    assert SceneIn.model_validate({"private": True}).is_public() is False
    assert SceneIn.model_validate({"isPublic": None, "public": None}).is_public() is None


def test_pyaesel_registration_body() -> None:
    body = {
        "num_records": 2, "start_record": 0, "error_code": None, "error_message": None,
        "event_destination_port": None, "event_destination_key": None,
        "event_destination_salt": None,
        "scenes": [{"key": "123", "name": None, "region": None, "latitude": None,
                    "longitude": None,
                    "distance": None, "tags": [], "isPublic": None, "user": None, "public": None,
                    "devices": [{"key": "d", "hostname": "localhost", "port": 8080,
                                 "connection_string": "http://localhost:8080",
                                 "transform": None}]}],
    }  # fmt: skip
    scene = SceneList.model_validate(body).scenes[0]
    assert scene.devices is not None and scene.devices[0].hostname == "localhost"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1e300, -3.5e38, 10**40])
@pytest.mark.parametrize(
    "model, doc",
    [
        (ObjectIn, lambda b: {"transform": [b] + [0.0] * 15}),
        (ObjectIn, lambda b: {"translation": [0.0, b, 0.0]}),
        (ObjectIn, lambda b: {"quaternion_rotation": [1.0, 0.0, 0.0, b]}),
        (
            ObjectIn,
            lambda b: {
                "actions": [
                    {"name": "a", "keyframes": [{"frame": 1, "transform": [0.0] * 15 + [b]}]}
                ]
            },
        ),
        (ObjectIn, lambda b: {"translation_handle": [b]}),
        (PropertyIn, lambda b: {"values": [b]}),
        (PropertyIn, lambda b: {"values": [{"value": 1.0, "left_x": b}]}),
        (SceneIn, lambda b: {"transform": {"translation": [b, 0.0, 0.0]}}),
        (SceneIn, lambda b: {"distance": b}),
    ],
)
def test_numbers_beyond_float32_are_refused(model: Any, doc: Any, bad: float) -> None:
    with pytest.raises(ValidationError, match="float32"):
        model.model_validate(doc(bad))


def test_the_float32_extremes_are_accepted() -> None:
    edge = 3.4028234663852886e38
    obj = ObjectIn.model_validate({"transform": [edge, -edge] + [0.0] * 14})
    assert obj.transform is not None and obj.transform[:2] == [edge, -edge]


def test_a_lone_surrogate_in_text_is_refused() -> None:
    with pytest.raises(ValidationError, match="lone surrogate"):
        ObjectIn.model_validate({"name": "\ud800"})
    with pytest.raises(ValidationError, match="lone surrogate"):
        SceneIn.model_validate({"tags": ["ok", "\udfff"]})
