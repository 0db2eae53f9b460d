"""The fast-path shape check for bare transform updates (pure, no services)."""

from __future__ import annotations

from typing import Any

import pytest

from aesel.model.inbound import BareTransform, bare_transform

T = [1, 0, 0, 2.5, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]


def test_a_bare_transform_update_takes_the_fast_path() -> None:
    got = bare_transform({"msg_type": 1, "key": "k", "scene": "s", "transform": T, "device": "d"})
    assert got == BareTransform("k", "s", tuple(float(x) for x in T), "d")
    assert bare_transform({"msg_type": 1, "key": "k", "transform": T}) == BareTransform(
        "k", "", got.transform if got else (), None
    )


@pytest.mark.parametrize(
    "doc",
    [
        {"msg_type": 9, "key": "k", "transform": T},
        {"msg_type": True, "key": "k", "transform": T},
        {"msg_type": 1, "key": "", "transform": T},
        {"msg_type": 1, "key": "k", "transform": T[:12]},
        {"msg_type": 1, "key": "k", "transform": [*T[:15], True]},
        {"msg_type": 1, "key": "k", "transform": [*T[:15], "1"]},
        {"msg_type": 1, "key": "k", "transform": T, "name": "renamed"},
        {"msg_type": 1, "key": "k", "transform": T, "device": 5},
        {"msg_type": 1, "key": "k", "scene": None, "transform": T},
        {"msg_type": 1, "key": "k", "transform": [*T[:15], 1e300]},  # beyond float32
        {"msg_type": 1, "key": "k", "transform": [*T[:15], float("nan")]},
        {"msg_type": 1, "key": "k", "transform": [*T[:15], float("inf")]},
        [1, 2, 3],
    ],
)
def test_anything_else_takes_the_validating_path(doc: Any) -> None:
    assert bare_transform(doc) is None
