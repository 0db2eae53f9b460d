"""The real PyAesel clients run their own flows unchanged: 0.8 (the latest on PyPI) and 0.3 (the
version the Blender clients pin), each installed in its own folder by the Makefile."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import AeselProcess
from tests.engines import clear_neo4j, mongo_url

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
COMPAT = ROOT / "tests" / "compat"
INSTALLS = {"0.8": ROOT / ".cache" / "pyaesel", "0.3": ROOT / ".cache" / "pyaesel-0.3"}
FLOWS = {"0.8": COMPAT / "pyaesel_flows.py", "0.3": COMPAT / "pyaesel03_flows.py"}


def run_flows(version: str, script: Path, *args: str) -> str:
    install = INSTALLS[version]
    if not (install / "aesel" / "AeselTransactionClient.py").exists():
        pytest.fail(f"PyAesel {version} is not installed in {install}: run `make test`")
    # -S: no site-packages, so PyAesel's `aesel` package cannot be shadowed by this one
    result = subprocess.run(
        [sys.executable, "-S", str(script), *args],
        env={"PYTHONPATH": str(install)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(params=["embedded", "mongo+neo4j"])
def store_flags(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """The flags that put ``aesel serve`` on the embedded store, or on MongoDB + Neo4j."""
    if request.param == "embedded":
        return ()
    servers = request.getfixturevalue("engines")
    neo4j = servers.urls["AESEL_NEO4J_URL"]
    asyncio.run(clear_neo4j(neo4j))
    return ("--mongo-url", mongo_url(servers), "--neo4j-url", neo4j)


@pytest.mark.parametrize("version", ["0.8", "0.3"])
def test_pyaesel_scene_object_property_and_event_flows(
    version: str,
    aesel_process: Callable[..., AeselProcess],
    tmp_path: Path,
    store_flags: tuple[str, ...],
) -> None:
    p = aesel_process(*store_flags)
    out = run_flows(version, FLOWS[version], p.url, str(p.udp_port), str(tmp_path))
    assert "flows ok" in out


def test_pyaesel_user_project_collection_and_asset_flows_with_auth(
    aesel_process: Callable[..., AeselProcess], tmp_path: Path, store_flags: tuple[str, ...]
) -> None:
    # 0.8 only: 0.3 has no users, projects or collections (its asset flow runs above)
    auth = ("--auth", "--admin-user", "root", "--admin-password", "root-pw")
    p = aesel_process(*auth, *store_flags)
    script = COMPAT / "pyaesel_catalog_flows.py"
    out = run_flows("0.8", script, p.url, "root", "root-pw", str(tmp_path))
    assert "pyaesel catalog flows ok" in out
