"""The PyAesel client's user, project, collection and asset flows, run unchanged.

Runs in a separate interpreter (``python -S`` with only the PyAesel install on the path),
because PyAesel's package is also named ``aesel``. Usage:
``pyaesel_catalog_flows.py URL ADMIN_USER ADMIN_PASSWORD WORKDIR`` against ``aesel serve --auth``.
Every call is PyAesel's own ``AeselTransactionClient`` method; its ``raise_for_status`` makes any
non-2xx answer fail the flow. Prints ``pyaesel catalog flows ok`` on success.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import requests  # type: ignore[import-untyped]
from aesel.AeselTransactionClient import AeselTransactionClient  # type: ignore[import-not-found]
from aesel.model.AeselApplicationUser import AeselApplicationUser  # type: ignore[import-not-found]
from aesel.model.AeselAssetCollection import AeselAssetCollection  # type: ignore[import-not-found]
from aesel.model.AeselAssetMetadata import AeselAssetMetadata  # type: ignore[import-not-found]
from aesel.model.AeselAssetRelationship import (  # type: ignore[import-not-found]
    AeselAssetRelationship,
)
from aesel.model.AeselProject import AeselProject  # type: ignore[import-not-found]
from aesel.model.AeselSceneGroup import AeselSceneGroup  # type: ignore[import-not-found]


def expect_status(status: int, call: Any, *args: Any) -> None:
    try:
        call(*args)
    except requests.HTTPError as e:
        assert e.response.status_code == status, (e.response.status_code, e.response.text)
        return
    raise AssertionError(f"expected HTTP {status}")


def user_flow(admin: Any, url: str) -> None:
    user = AeselApplicationUser()
    user.username = "testuser"
    user.password = "testpw"
    user.email = "test@example.org"
    created = admin.create_user(user)
    key = created["id"]
    assert created["username"] == "testuser" and created["password"] == ""
    expect_status(409, admin.create_user, user)
    assert [u["id"] for u in admin.user_query(username="testuser")] == [key]
    assert [u["id"] for u in admin.user_query(email="test@example.org")] == [key]
    assert admin.get_user(key)["email"] == "test@example.org"
    upd = AeselApplicationUser()
    upd.email = "new@example.org"
    admin.update_user(key, upd)
    assert admin.get_user(key)["email"] == "new@example.org"
    admin.add_favorite_project(key, "p1")
    admin.add_favorite_scene(key, "s1")
    got = admin.get_user(key)
    assert got["favoriteProjects"] == ["p1"] and got["favoriteScenes"] == ["s1"]
    admin.remove_favorite_project(key, "p1")
    admin.remove_favorite_scene(key, "s1")
    admin.make_user_admin(key)
    assert admin.get_user(key)["isAdmin"] is True
    admin.remove_admin_rights(key)
    admin.deactivate_user(key)
    assert admin.get_user(key)["isActive"] is False
    admin.activate_user(key)

    # the new user logs in with PyAesel too, and may not call admin routes
    own = AeselTransactionClient(url)
    own.login("testuser", "testpw")
    assert own.get_user(key)["username"] == "testuser"
    expect_status(403, own.make_user_admin, key)
    other = AeselApplicationUser()
    other.username = "other"
    other.password = "pw"
    expect_status(403, own.create_user, other)
    admin.delete_user(key)
    expect_status(404, admin.get_user, key)
    expect_status(401, own.get_user, key)  # the deleted user's token no longer works


def project_flow(client: Any) -> None:
    group = AeselSceneGroup()
    group.name = "testGroup"
    group.description = "a group"
    group.category = "test"
    group.scenes = ["scene1"]
    project = AeselProject()
    project.name = "testProject"
    project.description = "a project"
    project.category = "test"
    project.tags = ["testTag"]
    project.sceneGroups = [group]
    project.assetCollectionIds = ["c1"]
    project.isPublic = True
    created = client.create_project(project)
    key = created["id"]
    assert created["sceneGroups"][0]["scenes"] == ["scene1"]
    upd = AeselProject()
    upd.name = "renamed"
    client.update_project(key, upd)
    assert client.get_project(key)["name"] == "renamed"

    group2 = AeselSceneGroup()
    group2.name = "group2"
    group2.category = "test"
    client.add_scene_group(key, group2)
    change = AeselSceneGroup()
    change.description = "second"
    client.update_scene_group(key, "group2", change)
    client.add_scene_to_scene_group(key, "group2", "scene2")
    client.remove_scene_from_scene_group(key, "testGroup", "scene1")
    groups = client.get_project(key)["sceneGroups"]
    assert [(g["name"], g["scenes"]) for g in groups] == [("testGroup", []), ("group2", ["scene2"])]
    assert groups[1]["description"] == "second"
    client.delete_scene_group(key, "testGroup")

    query = AeselProject()
    query.name = "renamed"
    assert [p["id"] for p in client.project_query(query)] == [key]
    query = AeselProject()
    query.category = "test"
    query.tags = ["testTag"]
    assert [p["id"] for p in client.project_query(query)] == [key]
    client.delete_project(key)
    expect_status(416, client.get_project, key)


def collection_flow(client: Any) -> None:
    coll = AeselAssetCollection()
    coll.name = "testCollection"
    coll.description = "a collection"
    coll.category = "test"
    coll.tags = ["testTag"]
    coll.isPublic = True
    created = client.create_asset_collection(coll)
    key = created["id"]
    assert created["name"] == "testCollection"
    upd = AeselAssetCollection()
    upd.description = "changed"
    client.update_asset_collection(key, upd)
    assert client.get_asset_collection(key)["description"] == "changed"
    assert [c["id"] for c in client.get_asset_collections([key])] == [key]
    query = AeselAssetCollection()
    query.category = "test"
    assert [c["id"] for c in client.asset_collection_query(query)] == [key]
    client.delete_asset_collection(key)
    expect_status(416, client.get_asset_collection, key)


def asset_flow(client: Any, workdir: str) -> None:
    path = os.path.join(workdir, "cube.obj")
    with open(path, "w") as f:
        f.write("v 1 1 1\nv 0 0 0\n")
    meta = AeselAssetMetadata()
    meta.content_type = "model/obj"
    meta.file_type = "obj"
    meta.asset_type = "standard"
    rel = AeselAssetRelationship()
    rel.related = "scene1"
    rel.type = "scene"
    key = client.create_asset(path, meta, rel)
    assert len(key) == 24
    assert client.get_asset(key) == b"v 1 1 1\nv 0 0 0\n"
    found = client.query_asset_metadata(meta)
    assert [m["key"] for m in found] == [key] and found[0]["fileType"] == "obj"
    assert [m["key"] for m in client.bulk_query_asset_metadata([key])] == [key]

    query = AeselAssetRelationship()
    query.related = "scene1"
    assert [r["assetId"] for r in client.query_asset_relationships(query)] == [key]

    with open(path, "w") as f:
        f.write("v 2 2 2\n")
    new_key = client.update_asset(key, path, meta, None)
    assert new_key != key
    assert client.get_asset(new_key) == b"v 2 2 2\n"
    history = client.get_asset_history(new_key)
    assert history[0]["assetIds"] == [new_key, key]
    assert [r["assetId"] for r in client.query_asset_relationships(query)] == [new_key]

    # a second relationship, then overwrite it through the existing-relationship form
    rel2 = AeselAssetRelationship()
    rel2.asset = new_key
    rel2.related = "object1"
    rel2.type = "object"
    rel2.subtype = "mesh"
    assert client.save_asset_relationship(rel2)[0]["relationshipSubtype"] == "mesh"
    rel3 = AeselAssetRelationship()
    rel3.asset = new_key
    rel3.related = "object1"
    rel3.type = "object"
    rel3.subtype = "texture"
    saved = client.save_asset_relationship(rel3, rel2)
    assert [r["relationshipSubtype"] for r in saved] == ["texture"]
    assert len(client.delete_asset_relationship(new_key, "object", "object1")) == 1

    client.delete_asset(new_key)
    client.delete_asset(key)
    # an unknown asset answers 204, which raise_for_status lets through, with no content
    assert client.get_asset(new_key) == b""


def main() -> None:
    url, user, password, workdir = sys.argv[1:5]
    client = AeselTransactionClient(url)
    expect_status(401, client.get_project, "x")  # --auth is on: no token, no entry
    client.login(user, password)
    user_flow(client, url)
    project_flow(client)
    collection_flow(client)
    asset_flow(client, workdir)
    print("pyaesel catalog flows ok")


if __name__ == "__main__":
    main()
