"""Scene query semantics (docs/compat.md §5), distance in metres."""

from __future__ import annotations

import pytest

from aesel.model.entities import Scene
from aesel.storage.base import SceneFilter, distance_m

BALTIMORE = (39.2904, -76.6122)
WASHINGTON = (38.9072, -77.0369)


def test_distance_is_in_metres() -> None:
    d = distance_m(*BALTIMORE, *WASHINGTON)
    assert 55_000 < d < 57_000  # about 56 km
    assert distance_m(*BALTIMORE, *BALTIMORE) == pytest.approx(0.0)


def test_distance_filter() -> None:
    dc = Scene(key="dc", latitude=WASHINGTON[0], longitude=WASHINGTON[1])
    near = SceneFilter(latitude=BALTIMORE[0], longitude=BALTIMORE[1], distance=60_000)
    far = SceneFilter(latitude=BALTIMORE[0], longitude=BALTIMORE[1], distance=50_000)
    assert near.matches(dc) and not far.matches(dc)
    assert not near.matches(Scene(key="nowhere"))


def test_tags_must_all_be_present() -> None:
    s = Scene(key="s", tags=("a", "b"))
    assert SceneFilter(tags=("a",)).matches(s)
    assert not SceneFilter(tags=("a", "c")).matches(s)


def test_private_scenes_are_visible_to_their_owner_only_when_auth_is_on() -> None:
    s = Scene(key="s", public=False, user="ann")
    assert SceneFilter(see_all=True).matches(s)
    assert SceneFilter(principal="ann", see_all=False).matches(s)
    assert not SceneFilter(principal="bob", see_all=False).matches(s)
    assert not SceneFilter(public=True).matches(s)
