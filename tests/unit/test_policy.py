"""The decision table itself, and that the stores' visibility filter agrees with it."""

from __future__ import annotations

import itertools

import pytest

from aesel.errors import Forbidden, NotFound
from aesel.services import policy
from aesel.services.policy import Action, Kind, Outcome, Principal, Role, decide
from aesel.storage.base import visible

A, H, F = Outcome.ALLOW, Outcome.HIDDEN, Outcome.FORBIDDEN

#: (role, public) -> outcome for READ, WRITE, ADMIN on a scene, then on a catalog item
TABLE = {
    (Role.OWNER, False): ((A, A, A), (A, A, A)),
    (Role.ADMIN, False): ((A, A, A), (A, A, A)),
    (Role.USER, False): ((H, H, H), (H, H, H)),
    (Role.ANONYMOUS, False): ((H, H, H), (H, H, H)),
    (Role.OWNER, True): ((A, A, A), (A, A, A)),
    (Role.ADMIN, True): ((A, A, A), (A, A, A)),
    (Role.USER, True): ((A, A, F), (A, F, F)),
    (Role.ANONYMOUS, True): ((A, A, F), (A, F, F)),
}


@pytest.mark.parametrize(("role", "public"), list(TABLE))
def test_the_table(role: Role, public: bool) -> None:
    scene, catalog = TABLE[(role, public)]
    for action, want in zip((Action.READ, Action.WRITE, Action.ADMIN), scene, strict=True):
        assert decide(role, public, action, Kind.SCENE) is want
    for action, want in zip((Action.READ, Action.WRITE, Action.ADMIN), catalog, strict=True):
        assert decide(role, public, action, Kind.CATALOG) is want


def principals() -> list[Principal]:
    return [
        Principal(),  # auth off
        Principal(user="alice", enforced=True),
        Principal(user="bob", enforced=True),
        Principal(user="root", admin=True, enforced=True),
        Principal(enforced=True),  # anonymous
        Principal(enforced=True, trusted=True),
    ]


@pytest.mark.parametrize(("who", "public"), list(itertools.product(principals(), [False, True])))
def test_the_stores_visibility_filter_agrees_with_the_policy(who: Principal, public: bool) -> None:
    assert visible("alice", public, who.user, who.sees_all) == policy.allows(
        who, Action.READ, "alice", public
    )


def test_require_hides_or_forbids() -> None:
    bob = Principal(user="bob", enforced=True)
    with pytest.raises(NotFound, match="no scene 's'"):
        policy.require(bob, Action.READ, "alice", False, "scene 's'")
    with pytest.raises(Forbidden):
        policy.require(bob, Action.ADMIN, "alice", True, "scene 's'")
    policy.require(bob, Action.WRITE, "alice", True, "scene 's'")
    policy.require(Principal(), Action.ADMIN, "alice", False, "scene 's'")  # auth off


def test_ownerless_things_are_for_admins_once_auth_is_on() -> None:
    bob = Principal(user="bob", enforced=True)
    assert not policy.allows(bob, Action.ADMIN, "", True)
    assert policy.allows(Principal(user="r", admin=True, enforced=True), Action.ADMIN, "", True)
