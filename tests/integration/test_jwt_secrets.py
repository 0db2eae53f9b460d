"""JWT secrets: a generated one kept in the data dir (owner-only), rotation, short ones refused."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

from aesel.app import Node
from aesel.config import Settings
from tests.catalog_helpers import ADMIN, login, running

pytestmark = pytest.mark.integration

OLD = "old-secret-" + "o" * 64
NEW = "new-secret-" + "n" * 64


async def test_a_generated_secret_is_kept_so_tokens_survive_a_restart(tmp_path: Path) -> None:
    async with running(tmp_path, auth=True, jwt_secret="") as (_, http):
        admin = await login(http, *ADMIN)
        assert (await http.get("/v1/asset", headers=admin)).status_code == 200
    path = tmp_path / "data" / "jwt-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text().strip()
    assert len(secret) >= 64
    token = admin["Authorization"].removeprefix("Bearer ")
    assert jwt.decode(token, secret, algorithms=["HS512"])["exp"]

    async with running(tmp_path, auth=True, jwt_secret="") as (_, http):
        assert (await http.get("/v1/asset", headers=admin)).status_code == 200
    assert path.read_text().strip() == secret  # generated once


async def test_a_secret_file_others_may_read_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "jwt-secret").write_text("x" * 86)
    (data / "jwt-secret").chmod(0o640)
    with pytest.raises(PermissionError, match=r"has mode 0640, expected 0600"):
        Node(Settings(http_port=0, udp_port=0, ws_port=0, data_dir=data))
    (data / "jwt-secret").chmod(0o600)
    Node(Settings(http_port=0, udp_port=0, ws_port=0, data_dir=data))  # now accepted


async def test_rotation_accepts_old_tokens_and_signs_with_the_new_secret(tmp_path: Path) -> None:
    async with running(tmp_path, auth=True, jwt_secret=OLD) as (_, http):
        old = await login(http, *ADMIN)
    forged = jwt.encode({"sub": ADMIN[0], "exp": 4_000_000_000}, "f" * 64, "HS512")

    async with running(
        tmp_path, auth=True, jwt_secret=NEW, jwt_previous_secrets=f"{OLD}, {'p' * 64}"
    ) as (_, http):
        assert (await http.get("/v1/asset", headers=old)).status_code == 200
        new = await login(http, *ADMIN)
        token = new["Authorization"].removeprefix("Bearer ")
        assert jwt.decode(token, NEW, algorithms=["HS512"])["exp"]
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(token, OLD, algorithms=["HS512"])
        r = await http.get("/v1/asset", headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401 and "signature" in r.json()["err_msg"]

    async with running(tmp_path, auth=True, jwt_secret=NEW) as (_, http):  # rotation over
        assert (await http.get("/v1/asset", headers=old)).status_code == 401
        assert (await http.get("/v1/asset", headers=new)).status_code == 200


def test_a_short_secret_is_refused_by_aesel_serve(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "aesel", "serve", "--data-dir", str(tmp_path), "--jwt-secret",
         "too-short"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "aesel serve: error: invalid --jwt-secret: secret has 9 bytes, expected at least 64"
    )


def test_a_loose_secret_file_stops_aesel_serve_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "jwt-secret").write_text("x" * 86)
    (tmp_path / "jwt-secret").chmod(0o644)
    r = subprocess.run(
        [sys.executable, "-m", "aesel", "serve", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "cannot start: " in r.stderr
    assert "has mode 0644, expected 0600 (owner-only)" in r.stderr
