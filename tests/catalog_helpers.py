"""Helpers for the catalog tests: a node with chosen settings, logins, multipart uploads."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from aesel.app import Node
from aesel.config import Settings

ADMIN = ("admin", "admin-pw")
SECRET = "test-secret-that-is-long-enough-for-hs512-" + "x" * 32


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, **overrides: Any
) -> AsyncIterator[tuple[Node, httpx.AsyncClient]]:
    """A real node on free ports, and an httpx client for it; loop errors fail the test."""
    base: dict[str, Any] = {
        "http_port": 0, "udp_port": 0, "ws_port": 0, "data_dir": tmp_path / "data",
        "flush_interval": 0.05, "jwt_secret": SECRET, "admin_user": ADMIN[0],
        "admin_password": ADMIN[1],
    }  # fmt: skip
    settings = Settings(**{**base, **overrides})
    node = Node(settings)
    await node.start()
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    url = f"http://127.0.0.1:{node.http_port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield node, client
    finally:
        await node.stop()
        loop.set_exception_handler(None)
    assert not errors, f"unhandled loop errors: {errors}"


async def login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await client.post("/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    assert r.cookies["access_token"] == r.headers["authorization"].removeprefix("Bearer ")
    client.cookies.clear()  # each request then says explicitly who it is
    return {"Authorization": r.headers["authorization"]}


async def upload(
    client: httpx.AsyncClient,
    data: bytes,
    path: str = "/v1/asset",
    headers: dict[str, str] | None = None,
    **params: Any,
) -> httpx.Response:
    files = {"file": ("model.obj", data, "application/octet-stream")}
    return await client.post(path, files=files, params=params, headers=headers)
