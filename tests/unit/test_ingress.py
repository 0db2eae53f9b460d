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
        {"msg_type": 1, "key": "k", "transform": [*T[:15], -float("inf")]},
        {"msg_type": 1, "key": "k", "transform": [*T[:14], float("inf"), -float("inf")]},
        {"msg_type": 1, "key": "k", "transform": [*T[:14], 3.5e38, -3.5e38]},  # sum 0
        {"msg_type": 1, "key": "k", "transform": [*T[:15], 10**400]},  # an int beyond float
        {"msg_type": 1, "key": "k", "transform": [*[3e38] * 15, float("nan")]},
        [1, 2, 3],
    ],
)
def test_anything_else_takes_the_validating_path(doc: Any) -> None:
    assert bare_transform(doc) is None


def test_values_near_the_float32_bound_are_checked_one_by_one() -> None:
    """The magnitudes may add up beyond float32 while each value is inside: still fast."""
    near = [3.4e38] * 15 + [-3.4e38]
    got = bare_transform({"msg_type": 1, "key": "k", "transform": near})
    assert got is not None and got.transform == tuple(near)
    exact = [3.4028234663852886e38, -3.4028234663852886e38, *T[2:]]
    assert bare_transform({"msg_type": 1, "key": "k", "transform": exact}) is not None
