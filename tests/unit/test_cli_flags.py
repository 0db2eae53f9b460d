"""Settings from flags and ``AESEL_*``: strict parsing, one clear line and exit 2 for a bad value,
and secrets that never show in ``--help``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aesel.cli import load_settings, main
from aesel.config import Settings

LONG = "s" * 64


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.names():
        monkeypatch.delenv(Settings.env_name(name), raising=False)


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The one stderr line of a refused ``aesel serve``; asserts exit code 2."""
    with pytest.raises(SystemExit) as e:
        load_settings(["serve", *argv])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_auth_is_off_by_default_and_a_switch() -> None:
    assert load_settings(["serve"]).auth is False
    assert load_settings(["serve", "--auth"]).auth is True
    assert load_settings(["serve", "--auth", "--no-auth"]).auth is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("YES", True), ("on", True), ("0", False), ("off", False)],
)
def test_auth_from_environment(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("AESEL_AUTH", value)
    assert load_settings(["serve"]).auth is expected
    assert load_settings(["serve", "--no-auth"]).auth is False  # a flag wins


@pytest.mark.parametrize("value", ["ture", "2", "", "enabled", "t"])
def test_a_boolean_that_does_not_parse_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.setenv("AESEL_AUTH", value)
    err = refused(capsys)
    assert f"invalid AESEL_AUTH={value!r}" in err and "true/false" in err


def test_flags_win_over_the_environment_which_wins_over_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AESEL_HTTP_PORT", "9000")
    monkeypatch.setenv("AESEL_LOG_LEVEL", "debug")
    s = load_settings(["serve", "--http-port", "9001"])
    assert (s.http_port, s.log_level, s.udp_port) == (9001, "debug", 8762)
    assert s.data_dir == Path("aesel-data") and s.max_asset_size == 128 << 20


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["--udp-security", "bogus"], {}, "invalid --udp-security='bogus'"),
        ([], {"AESEL_LOG_LEVEL": "verbose"}, "invalid AESEL_LOG_LEVEL='verbose'"),
        (["--http-port", "70000"], {}, "invalid --http-port='70000'"),
        (["--flush-interval", "nan"], {}, "invalid --flush-interval='nan'"),
        ([], {"AESEL_MAX_BODY": "1e6x"}, "invalid AESEL_MAX_BODY='1e6x'"),
        ([], {"AESEL_AUHT": "1"}, "AESEL_AUHT names no setting"),
    ],
)
def test_values_that_do_not_parse_are_refused(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env: dict[str, str],
    expected: str,
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert expected in refused(capsys, *argv)


def test_a_short_jwt_secret_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(capsys, "--jwt-secret", "hunter2")
    assert "invalid --jwt-secret: secret has 7 bytes, expected at least 64" in err
    assert "hunter2" not in err
    monkeypatch.setenv("AESEL_JWT_SECRET", "x" * 63)
    assert "invalid AESEL_JWT_SECRET: secret has 63 bytes" in refused(capsys)
    err = refused(capsys, "--jwt-secret", LONG, "--jwt-previous-secrets", f"{LONG},short")
    assert "invalid --jwt-previous-secrets: secret 2 has 5 bytes" in err
    s = load_settings(["serve", "--jwt-secret", LONG, "--jwt-previous-secrets", f"{'p' * 64}, "])
    assert s.jwt_secret.get_secret_value() == LONG and s.previous_secrets() == ["p" * 64]


def test_help_never_shows_a_secret_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = {
        "AESEL_JWT_SECRET": "jwt-from-env-" + "j" * 64,
        "AESEL_JWT_PREVIOUS_SECRETS": "previous-from-env-" + "p" * 64,
        "AESEL_ADMIN_PASSWORD": "hunter2-from-env",
        "AESEL_METRICS_TOKEN": "metrics-from-env",
        "AESEL_AES_IN_KEY": "in-key-from-env",
        "AESEL_AES_IN_IV": "in-iv-from-env",
        "AESEL_AES_OUT_KEY": "out-key-from-env",
        "AESEL_AES_OUT_IV": "out-iv-from-env",
    }
    for k, v in secrets.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("AESEL_HTTP_PORT", "9999")
    with pytest.raises(SystemExit) as e:
        main(["serve", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name in Settings.names():  # every setting is a flag naming its variable
        assert f"--{name.replace('_', '-')}" in out and Settings.env_name(name) in out, name
    for value in secrets.values():
        assert value not in out and "from-env" not in out
    assert "9999" not in out  # the help shows built-in defaults only
    # and a settings object never prints them either
    assert "hunter2" not in repr(load_settings(["serve"]))


def test_a_bad_cbc_key_is_one_line_and_exit_2_not_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as e:
        main(["serve", "--data-dir", str(tmp_path), "--udp-security", "cbc", "--aes-in-key",
              "zz", "--http-port", "0", "--udp-port", "0", "--ws-port", "0"])  # fmt: skip
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "cannot start: aes_in_key: aes key is not hex" in err and "Traceback" not in err


def test_the_soft_descriptor_limit_is_raised_to_the_hard_one() -> None:
    code = (
        "import resource\n"
        "from aesel.net import raise_nofile\n"
        "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "expected = 256 if hard == resource.RLIM_INFINITY else hard\n"
        "assert raise_nofile() == expected == resource.getrlimit(resource.RLIMIT_NOFILE)[0]\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
