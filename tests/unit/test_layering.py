"""The house rules of ARCHITECTURE.md, checked: pure cores load no I/O, model imports nothing,
services know no transport, only the composition root knows the backend."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "aesel"
# socket is left out: pydantic loads it through email.utils, without doing any I/O
IO_MODULES = ("asyncio", "sqlite3", "uvicorn", "fastapi", "starlette", "httpx", "uvloop")


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def module(path: Path) -> str:
    return ".".join(("aesel", *path.relative_to(PKG).with_suffix("").parts))


PURE = sorted(
    [
        *(PKG / "model").glob("*.py"),
        PKG / "storage" / "base.py",
        PKG / "realtime" / "protocol.py",
        PKG / "realtime" / "codec.py",
        PKG / "udp" / "crypto.py",
        PKG / "services" / "policy.py",
        PKG / "services" / "destinations.py",
    ]
)


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(PKG)))
def test_pure_modules_load_no_io(path: Path) -> None:
    """Transitively: the module imported alone, in a fresh interpreter, loads no I/O module."""
    probe = (
        f"import sys, {module(path)}\n"
        f"print(','.join(m for m in {IO_MODULES!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert not out, f"importing {module(path)} loads {out}"


@pytest.mark.parametrize("path", sorted((PKG / "model").glob("*.py")), ids=lambda p: p.name)
def test_model_imports_nothing_else_of_aesel(path: Path) -> None:
    bad = {
        m
        for m in imports(path)
        if m.startswith("aesel.") and not m.startswith(("aesel.model", "aesel.errors"))
    }
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", sorted((PKG / "services").glob("*.py")), ids=lambda p: p.name)
def test_services_know_no_transport(path: Path) -> None:
    bad = {
        m
        for m in imports(path)
        if m.startswith(("aesel.realtime", "aesel.udp", "aesel.rest", "aesel.app"))
    }
    assert not bad, f"services/{path.name} imports {bad}"


def test_the_realtime_core_does_not_import_a_transport() -> None:
    for name in ("hub.py", "bus.py", "protocol.py", "codec.py"):
        bad = {m for m in imports(PKG / "realtime" / name) if m.startswith("aesel.udp")}
        assert not bad, f"realtime/{name} imports {bad}"


def test_only_app_knows_the_backend() -> None:
    users = {
        p.relative_to(PKG).as_posix()
        for p in PKG.rglob("*.py")
        if any(m.startswith("aesel.storage.embedded") for m in imports(p))
        and not p.relative_to(PKG).as_posix().startswith("storage/embedded/")
    }
    assert users <= {"app.py"}, users
