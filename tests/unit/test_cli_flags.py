"""Boolean settings (``--auth``) are switches with an env var, not ``type=bool`` traps."""

from __future__ import annotations

import pytest

from aesel.cli import _parser


def test_auth_is_off_by_default_and_a_switch() -> None:
    assert _parser().parse_args(["serve"]).auth is False
    assert _parser().parse_args(["serve", "--auth"]).auth is True
    assert _parser().parse_args(["serve", "--auth", "--no-auth"]).auth is False


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("0", False)])
def test_auth_from_environment(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("AESEL_AUTH", value)
    assert _parser().parse_args(["serve"]).auth is expected
    assert _parser().parse_args(["serve", "--no-auth"]).auth is False


def test_max_asset_size_defaults_to_128_mib() -> None:
    assert _parser().parse_args(["serve"]).max_asset_size == 128 << 20
