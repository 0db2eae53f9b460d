"""The catalog store contract (aesel.storage.catalog) on the embedded SQLite backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aesel.errors import Conflict
from aesel.model.catalog import AssetMeta, AssetRelationship, Project, User, new_id
from aesel.storage.catalog import GroupFilter, RelationshipFilter, Visibility
from aesel.storage.embedded.catalog import FileBlobs, SqliteCatalog

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteCatalog]:
    s = SqliteCatalog(tmp_path)
    await s.open()
    yield s
    await s.close()


def user(name: str, email: str = "") -> User:
    return User(id=new_id(), username=name, password_hash="h", email=email)


async def test_usernames_and_emails_are_unique(store: SqliteCatalog) -> None:
    ann = user("ann", "a@x")
    await store.create_user(ann)
    with pytest.raises(Conflict):
        await store.create_user(user("ann"))
    with pytest.raises(Conflict):
        await store.create_user(user("other", "a@x"))
    await store.create_user(user("nomail"))
    await store.create_user(user("nomail2"))  # empty emails do not collide
    bob = user("bob")
    await store.create_user(bob)
    with pytest.raises(Conflict):
        await store.put_user(bob.model_copy(update={"username": "ann"}))
    assert await store.get_user(bob.id) == bob  # the failed replace changed nothing
    assert await store.count_users() == 4


async def test_add_version_moves_relationships_and_extends_history(store: SqliteCatalog) -> None:
    a1 = AssetMeta(key=new_id())
    rel = AssetRelationship(id=new_id(), asset_id=a1.key, related_id="s1", type="scene")
    await store.put_asset(a1, rel)
    a2, a3 = AssetMeta(key=new_id()), AssetMeta(key=new_id())
    h = await store.add_version(a1.key, a2)
    assert h.asset_ids == (a2.key, a1.key)
    h = await store.add_version(a2.key, a3)
    assert h.asset_ids == (a3.key, a2.key, a1.key)
    assert await store.histories(a3.key) == [h]
    assert await store.histories(a1.key) == []
    rels = await store.query_relationships(RelationshipFilter(related="s1"), 0, 10)
    assert [r.asset_id for r in rels] == [a3.key]
    assert await store.delete_asset(a3.key)
    assert await store.query_relationships(RelationshipFilter(), 0, 10) == []
    with pytest.raises(Conflict):  # a key is never reused
        await store.put_asset(a1, None)


async def test_paging_and_visibility(store: SqliteCatalog) -> None:
    for i in range(5):
        await store.put_project(Project(id=f"p{i}", name="n", user="bob", public=i % 2 == 0))
    f = GroupFilter(name="n")
    assert [p.id for p in await store.query_projects(f, 1, 3)] == ["p1", "p2", "p3"]
    carol = GroupFilter(name="n", visibility=Visibility(principal="carol", see_all=False))
    assert [p.id for p in await store.query_projects(carol, 0, 10)] == ["p0", "p2", "p4"]
    bob = GroupFilter(visibility=Visibility(principal="bob", see_all=False))
    assert len(await store.query_projects(bob, 0, 10)) == 5


async def test_blob_upload_is_invisible_until_commit(tmp_path: Path) -> None:
    blobs = FileBlobs(tmp_path)
    await blobs.open()
    up = blobs.begin()
    await up.write(b"x" * (3 << 20))
    assert await blobs.size("k1") is None
    await up.commit("k1")
    assert await blobs.size("k1") == 3 << 20
    assert b"".join([c async for c in blobs.read("k1")]) == b"x" * (3 << 20)
    up = blobs.begin()
    await up.write(b"y" * (2 << 20))
    await up.abort()
    assert sorted(p.name for p in blobs.root.iterdir()) == ["k1"]
    (blobs.root / ".tmp-stale").write_bytes(b"left by a crash")
    await blobs.open()
    assert sorted(p.name for p in blobs.root.iterdir()) == ["k1"]
    await blobs.delete("k1")
    await blobs.delete("k1")
    assert await blobs.size("k1") is None
