"""Who may call what with --auth (aesel.rest.auth.check_rights), without any server."""

from __future__ import annotations

import pytest

from aesel.errors import Forbidden
from aesel.model.catalog import User, new_id
from aesel.rest.auth import check_rights

BOB = User(id="b1", username="bob", password_hash="x", email="bob@x.org")
ADMIN = User(id="a1", username="root", password_hash="x", admin=True)

ALLOWED = [
    ("GET", "/v1/scene/s1", ""),
    ("POST", "/v1/asset", ""),
    ("GET", "/users/b1", ""),
    ("GET", "/users/bob", ""),
    ("PUT", "/users/b1", ""),
    ("DELETE", "/users/b1", ""),
    ("PUT", "/users/b1/projects/p1", ""),
    ("GET", "/users", "username=bob"),
    ("GET", "/users/", "email=bob%40x.org"),
]
FORBIDDEN = [
    ("POST", "/users/sign-up", ""),
    ("PUT", "/users/b1/admin", ""),
    ("DELETE", "/users/b1/active", ""),
    ("GET", "/users/a1", ""),
    ("DELETE", "/users/a1", ""),
    ("GET", "/users", ""),
    ("GET", "/users", "username=root"),
    ("GET", "/users", "username=bob&username=root"),
]


@pytest.mark.parametrize(("method", "path", "query"), ALLOWED)
def test_non_admin_allowed(method: str, path: str, query: str) -> None:
    check_rights(BOB, method, path, query)


@pytest.mark.parametrize(("method", "path", "query"), FORBIDDEN)
def test_non_admin_forbidden(method: str, path: str, query: str) -> None:
    with pytest.raises(Forbidden):
        check_rights(BOB, method, path, query)


@pytest.mark.parametrize(("method", "path", "query"), ALLOWED + FORBIDDEN)
def test_admin_may_do_anything(method: str, path: str, query: str) -> None:
    check_rights(ADMIN, method, path, query)


def test_ids_sort_by_creation_and_look_like_object_ids() -> None:
    ids = [new_id() for _ in range(1000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 1000
    assert all(len(i) == 24 and int(i, 16) >= 0 for i in ids)


def test_user_json_never_carries_the_hash() -> None:
    assert BOB.to_json()["password"] == ""
    assert "x" not in BOB.to_json().values()
