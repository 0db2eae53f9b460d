"""The real PyAesel client (PyPI ``python-aesel-client==0.8``) runs its flows unchanged."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import AeselProcess

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PYAESEL = ROOT / ".cache" / "pyaesel"
FLOWS = ROOT / "tests" / "compat" / "pyaesel_flows.py"


def test_pyaesel_scene_object_property_and_event_flows(
    aesel_process: Callable[..., AeselProcess],
) -> None:
    if not (PYAESEL / "aesel" / "AeselTransactionClient.py").exists():
        pytest.fail(f"PyAesel is not installed in {PYAESEL}: run `make test`, which installs it")
    p = aesel_process()
    # -S: no site-packages, so PyAesel's `aesel` package cannot be shadowed by this one
    result = subprocess.run(
        [sys.executable, "-S", str(FLOWS), p.url, str(p.udp_port)],
        env={"PYTHONPATH": str(PYAESEL)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pyaesel flows ok" in result.stdout


CATALOG_FLOWS = ROOT / "tests" / "compat" / "pyaesel_catalog_flows.py"


def test_pyaesel_user_project_collection_and_asset_flows_with_auth(
    aesel_process: Callable[..., AeselProcess], tmp_path: Path
) -> None:
    if not (PYAESEL / "aesel" / "AeselTransactionClient.py").exists():
        pytest.fail(f"PyAesel is not installed in {PYAESEL}: run `make test`, which installs it")
    p = aesel_process("--auth", "--admin-user", "root", "--admin-password", "root-pw")
    result = subprocess.run(
        [sys.executable, "-S", str(CATALOG_FLOWS), p.url, "root", "root-pw", str(tmp_path)],
        env={"PYTHONPATH": str(PYAESEL)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pyaesel catalog flows ok" in result.stdout
