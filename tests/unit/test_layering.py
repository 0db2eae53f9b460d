"""The house rules of ARCHITECTURE.md, checked: pure cores import no I/O, model imports nothing."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "aesel"
IO_MODULES = {"asyncio", "socket", "sqlite3", "uvicorn", "fastapi", "starlette", "httpx", "uvloop"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


PURE = sorted(
    [*(PKG / "model").glob("*.py"), PKG / "udp" / "codec.py", PKG / "storage" / "base.py"]
)


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(PKG)))
def test_pure_modules_import_no_io(path: Path) -> None:
    bad = {m for m in imports(path) if m.split(".")[0] in IO_MODULES}
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", sorted((PKG / "model").glob("*.py")), ids=lambda p: p.name)
def test_model_imports_nothing_else_of_aesel(path: Path) -> None:
    bad = {m for m in imports(path) if m.startswith("aesel.") and not m.startswith("aesel.model")}
    assert not bad, f"{path.name} imports {bad}"


def test_only_app_knows_the_backend() -> None:
    users = {
        p.relative_to(PKG).as_posix()
        for p in PKG.rglob("*.py")
        if any(m.startswith("aesel.storage.embedded") for m in imports(p))
        and not p.relative_to(PKG).as_posix().startswith("storage/embedded/")
    }
    assert users <= {"app.py"}, users
