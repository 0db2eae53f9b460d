"""The catalog store contract (aesel.storage.catalog) on every backend: the embedded store
(SQLite and files) and MongoDB (documents, and GridFS for the bytes)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from aesel.errors import Conflict
from aesel.model.catalog import (
    AssetCollection,
    AssetHistory,
    AssetMeta,
    AssetRelationship,
    Project,
    SceneGroup,
    User,
    new_id,
)
from aesel.storage.catalog import AssetFilter, GroupFilter, RelationshipFilter, Visibility

CAROL = Visibility(principal="carol", see_all=False)


def user(name: str, email: str = "", **kw: Any) -> User:
    return User(id=new_id(), username=name, password_hash="h", email=email, **kw)


def rel(asset: str, related: str = "s1", type: str = "scene", **kw: Any) -> AssetRelationship:
    return AssetRelationship(id=new_id(), asset_id=asset, related_id=related, type=type, **kw)


# -- assets and relationships -----------------------------------------------------------------


async def test_asset_round_trips_every_field_and_a_key_is_never_reused(catalog: Any) -> None:
    a = AssetMeta(
        key=new_id(), name="n", description="d", content_type="model/gltf", file_type="glb",
        asset_type="mesh", created="2026.11.29.01.02.03", user="u1", public=False, size=42,
    )  # fmt: skip
    r = rel(a.key, asset_sub_id="sub", subtype="st")
    await catalog.put_asset(a, r)
    assert await catalog.get_asset(a.key) == a
    assert await catalog.get_asset("nope") is None
    assert await catalog.query_relationships(RelationshipFilter(), 0, 10) == [r]
    with pytest.raises(Conflict):
        await catalog.put_asset(a.model_copy(update={"name": "other"}), rel(a.key))
    assert await catalog.get_asset(a.key) == a  # the refused insert changed nothing
    assert await catalog.query_relationships(RelationshipFilter(), 0, 10) == [r]


async def test_add_version_moves_relationships_and_extends_history(catalog: Any) -> None:
    a1 = AssetMeta(key=new_id())
    await catalog.put_asset(a1, rel(a1.key, "s1"))
    a2, a3 = AssetMeta(key=new_id()), AssetMeta(key=new_id())
    h = await catalog.add_version(a1.key, a2)
    assert h.asset_ids == (a2.key, a1.key)
    h = await catalog.add_version(a2.key, a3)
    assert h.asset_ids == (a3.key, a2.key, a1.key)
    assert await catalog.histories(a3.key) == [h]
    assert await catalog.histories(a1.key) == []
    rels = await catalog.query_relationships(RelationshipFilter(related="s1"), 0, 10)
    assert [r.asset_id for r in rels] == [a3.key]
    with pytest.raises(Conflict):  # the new key exists: nothing moves
        await catalog.add_version(a3.key, a2)
    assert await catalog.histories(a3.key) == [h]
    assert await catalog.delete_asset(a3.key) is True
    assert await catalog.delete_asset(a3.key) is False
    assert await catalog.query_relationships(RelationshipFilter(), 0, 10) == []
    assert await catalog.histories(a3.key) == [h]  # histories stay
    copied = AssetHistory(id=new_id(), asset="z", asset_ids=("z", "y"))
    await catalog.put_history(copied)
    await catalog.put_history(copied)
    assert await catalog.histories("z") == [copied]


async def test_asset_queries_count_and_page(catalog: Any) -> None:
    keys = [new_id() for _ in range(6)]
    for i, k in reversed(list(enumerate(keys))):
        meta = AssetMeta(key=k, name=f"n{i % 2}", file_type="glb" if i < 3 else "txt",
                         user="bob", public=i != 1)  # fmt: skip
        await catalog.put_asset(meta, None)

    async def found(f: AssetFilter, offset: int = 0, limit: int = 100) -> list[str]:
        return [a.key for a in await catalog.query_assets(f, offset, limit)]

    assert await found(AssetFilter()) == keys
    assert await found(AssetFilter(), 2, 3) == keys[2:5]
    assert await found(AssetFilter(name="n0")) == keys[0::2]
    assert await found(AssetFilter(file_type="glb", name="n1")) == [keys[1]]
    assert await found(AssetFilter(key=keys[3])) == [keys[3]]
    assert await found(AssetFilter(content_type="text/plain", asset_type="standard")) == keys
    assert await found(AssetFilter(visibility=CAROL)) == [k for i, k in enumerate(keys) if i != 1]
    bob = Visibility(principal="bob", see_all=False)
    assert await found(AssetFilter(visibility=bob)) == keys
    assert await catalog.count_assets(AssetFilter(visibility=CAROL)) == 5
    assert await catalog.count_assets(AssetFilter(name="zz")) == 0
    by_ids = await catalog.assets_by_ids([keys[4], "nope", keys[0]])
    assert [a.key for a in by_ids] == [keys[0], keys[4]]
    assert await catalog.assets_by_ids([]) == []


async def test_relationship_queries_and_deletes(catalog: Any) -> None:
    r1, r2, r3 = rel("a1", "s1"), rel("a1", "s2", type="object"), rel("a2", "s1")
    await catalog.put_relationships([r1, r2, r3])
    await catalog.put_relationships([r1])  # an upsert by id
    changed = r2.model_copy(update={"subtype": "x"})
    await catalog.put_relationships([changed])

    async def ids(f: RelationshipFilter, offset: int = 0, limit: int = 100) -> list[str]:
        return [r.id for r in await catalog.query_relationships(f, offset, limit)]

    assert await ids(RelationshipFilter()) == [r1.id, r2.id, r3.id]
    assert await ids(RelationshipFilter(), 1, 1) == [r2.id]
    assert await ids(RelationshipFilter(asset="a1")) == [r1.id, r2.id]
    assert await ids(RelationshipFilter(related="s1", type="scene")) == [r1.id, r3.id]
    assert await ids(RelationshipFilter(asset_ids=("a2", "zz"))) == [r3.id]
    assert await ids(RelationshipFilter(related_ids=("s2",))) == [r2.id]
    assert (await catalog.query_relationships(RelationshipFilter(type="object"), 0, 1)) == [changed]
    gone = await catalog.delete_relationships(RelationshipFilter(related="s1"))
    assert sorted(r.id for r in gone) == sorted([r1.id, r3.id])
    assert await ids(RelationshipFilter()) == [r2.id]
    assert await catalog.delete_relationships(RelationshipFilter(asset="zz")) == []


# -- collections and projects -----------------------------------------------------------------


async def test_collections(catalog: Any) -> None:
    c1 = AssetCollection(id=new_id(), name="c", category="k", tags=("x", "y"), user="bob",
                         description="d", thumbnail="t")  # fmt: skip
    c2 = AssetCollection(id=new_id(), name="c", public=False, user="bob", tags=("y",))
    await catalog.put_collection(c1)
    await catalog.put_collection(c2)
    await catalog.put_collection(c1)
    assert await catalog.get_collection(c1.id) == c1
    assert await catalog.get_collection("nope") is None

    async def ids(f: GroupFilter, offset: int = 0, limit: int = 100) -> list[str]:
        return [c.id for c in await catalog.query_collections(f, offset, limit)]

    assert await ids(GroupFilter(name="c")) == [c1.id, c2.id]
    assert await ids(GroupFilter(tag="x")) == [c1.id]
    assert await ids(GroupFilter(tag="y"), 1, 5) == [c2.id]
    assert await ids(GroupFilter(category="k")) == [c1.id]
    assert await ids(GroupFilter(visibility=CAROL)) == [c1.id]
    by_ids = await catalog.collections_by_ids([c2.id, c1.id, "nope"])
    assert [c.id for c in by_ids] == [c1.id, c2.id]
    renamed = c1.model_copy(update={"name": "d"})
    await catalog.put_collection(renamed)
    assert await ids(GroupFilter(name="c")) == [c2.id]
    assert await catalog.delete_collection(c1.id) is True
    assert await catalog.delete_collection(c1.id) is False


async def test_projects_round_trip_page_and_filter(catalog: Any) -> None:
    full = Project(
        id=new_id(), name="n", category="k", user="bob", tags=("t",),
        scene_groups=(SceneGroup(name="g", description="d", category="c", scenes=("s1", "s2")),),
        asset_collection_ids=("c1",),
    )  # fmt: skip
    await catalog.put_project(full)
    assert await catalog.get_project(full.id) == full
    assert await catalog.delete_project(full.id) is True
    assert await catalog.delete_project(full.id) is False
    assert await catalog.get_project(full.id) is None
    ids = [new_id() for _ in range(5)]
    for i, pid in enumerate(ids):
        await catalog.put_project(Project(id=pid, name="n", user="bob", public=i % 2 == 0))
    f = GroupFilter(name="n")
    assert [p.id for p in await catalog.query_projects(f, 1, 3)] == ids[1:4]
    carol = GroupFilter(name="n", visibility=CAROL)
    assert [p.id for p in await catalog.query_projects(carol, 0, 10)] == ids[0::2]
    bob = GroupFilter(visibility=Visibility(principal="bob", see_all=False))
    assert len(await catalog.query_projects(bob, 0, 10)) == 5


# -- users ------------------------------------------------------------------------------------


async def test_usernames_and_emails_are_unique(catalog: Any) -> None:
    ann = user("ann", "a@x", admin=True, favorite_projects=("p",), favorite_scenes=("s",))
    await catalog.create_user(ann)
    assert await catalog.get_user(ann.id) == ann
    with pytest.raises(Conflict):
        await catalog.create_user(user("ann"))
    with pytest.raises(Conflict):
        await catalog.create_user(user("other", "a@x"))
    await catalog.create_user(user("nomail"))
    await catalog.create_user(user("nomail2"))  # empty emails do not collide
    bob = user("bob")
    await catalog.create_user(bob)
    with pytest.raises(Conflict):
        await catalog.put_user(bob.model_copy(update={"username": "ann"}))
    with pytest.raises(Conflict):
        await catalog.put_user(bob.model_copy(update={"email": "a@x"}))
    assert await catalog.get_user(bob.id) == bob  # the failed replace changed nothing
    assert await catalog.count_users() == 4
    bob2 = bob.model_copy(update={"username": "robert", "email": "b@x", "active": False})
    await catalog.put_user(bob2)
    assert await catalog.user_by_name("robert") == bob2
    assert await catalog.user_by_name("bob") is None
    await catalog.create_user(user("bob"))  # the old name is free again


async def test_concurrent_creates_of_one_username_have_one_winner(catalog: Any) -> None:
    results = await asyncio.gather(
        *(catalog.create_user(user("same")) for _ in range(5)), return_exceptions=True
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if r is not None)


async def test_user_queries_and_deletes(catalog: Any) -> None:
    us = [user(f"u{i}", f"u{i % 2}@x" if i < 2 else "") for i in range(5)]
    for u in us:
        await catalog.create_user(u)
    assert [u.id for u in await catalog.query_users(None, None, 1, 2)] == [us[1].id, us[2].id]
    assert await catalog.query_users("u3", None, 0, 10) == [us[3]]
    assert await catalog.query_users(None, "u1@x", 0, 10) == [us[1]]
    assert await catalog.query_users("u3", "u1@x", 0, 10) == []
    assert await catalog.delete_user(us[0].id) is True
    assert await catalog.delete_user(us[0].id) is False
    assert await catalog.get_user(us[0].id) is None
    assert await catalog.count_users() == 4


# -- blobs ------------------------------------------------------------------------------------


async def read_all(blobs: Any, key: str, chunk_size: int = 1 << 20) -> bytes:
    return b"".join([c async for c in blobs.read(key, chunk_size)])


async def test_blob_upload_is_invisible_until_commit(blobs: Any) -> None:
    data = os.urandom(3 << 20) + b"tail"
    up = blobs.begin()
    for i in range(0, len(data), 100_000):
        await up.write(data[i : i + 100_000])
    assert up.size == len(data)
    assert await blobs.size("k1") is None
    await up.commit("k1")
    assert await blobs.size("k1") == len(data)
    assert await read_all(blobs, "k1") == data
    assert await read_all(blobs, "k1", 7777) == data
    up = blobs.begin()
    await up.write(b"y" * (2 << 20))
    await up.abort()
    assert await blobs.size("k1") == len(data)
    await blobs.delete("k1")
    await blobs.delete("k1")
    assert await blobs.size("k1") is None


async def test_empty_blob_and_unknown_keys(blobs: Any) -> None:
    up = blobs.begin()
    await up.commit("empty")
    assert await blobs.size("empty") == 0
    assert await read_all(blobs, "empty") == b""
    for bad in ("nope", "../etc/passwd", ".hidden", ""):
        assert await blobs.size(bad) is None
        await blobs.delete(bad)
