"""``POST /login`` throttling over real HTTP, and ``/metrics`` behind its token with ``--auth``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.catalog_helpers import ADMIN, login, running

pytestmark = pytest.mark.integration

TOKEN = "scraper-token-" + "m" * 20


async def test_failed_logins_back_off_with_429_and_retry_after(tmp_path: Path) -> None:
    async with running(tmp_path, auth=True, login_user_failures=2, metrics_token=TOKEN) as (
        _,
        http,
    ):
        admin = await login(http, *ADMIN)
        body = {"username": "carol", "password": "carol-pw", "email": "c@x.org"}
        assert (await http.post("/users/sign-up", json=body, headers=admin)).status_code == 200
        wrong = {"username": "carol", "password": "guess"}
        for _ in range(3):  # two free failures, and the one that starts the back-off
            r = await http.post("/login", json=wrong)
            assert r.status_code == 401, r.text
        r = await http.post("/login", json={"username": "carol", "password": "carol-pw"})
        assert r.status_code == 429, r.text  # even the right password must wait
        assert r.headers["retry-after"] == "1"
        assert r.json() == {
            "err_code": 101,
            "err_msg": "too many failed logins for this username: retry in 1 s",
        }
        # an unknown username is throttled exactly as a known one
        for _ in range(3):
            r = await http.post("/login", json={"username": "nobody", "password": "guess"})
            assert r.status_code == 401
        r = await http.post("/login", json={"username": "nobody", "password": "guess"})
        assert r.status_code == 429 and r.headers["retry-after"] == "1"

        # once the back-off is over, the right password works (polled, never a fixed sleep)
        deadline = time.monotonic() + 10
        while True:
            r = await http.post("/login", json={"username": "carol", "password": "carol-pw"})
            if r.status_code != 429 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert r.status_code == 200, r.text

        metrics = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert metrics.status_code == 200
        refused = [
            line
            for line in metrics.text.splitlines()
            if line.startswith('aesel_logins_refused_total{reason="username"}')
        ]
        assert refused and float(refused[0].split()[-1]) >= 2


async def test_metrics_needs_its_token_with_auth(tmp_path: Path) -> None:
    async with running(tmp_path, auth=True, metrics_token=TOKEN) as (_, http):
        admin = await login(http, *ADMIN)
        for headers in ({}, admin, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            r = await http.get("/metrics", headers=headers)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", headers
            assert r.json()["err_code"] == 101
        r = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and "aesel_events_in_total" in r.text
    async with running(tmp_path, auth=True) as (_, http):  # --auth and no token: closed
        assert (await http.get("/metrics")).status_code == 401
    async with running(tmp_path) as (_, http):  # no --auth, no token: open as before
        assert (await http.get("/metrics")).status_code == 200


async def test_metrics_token_without_auth_is_required_too(tmp_path: Path) -> None:
    async with running(tmp_path, metrics_token=TOKEN) as (_, http):
        assert (await http.get("/metrics")).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert (await http.get("/metrics", headers=auth)).status_code == 200
