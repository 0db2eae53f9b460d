"""Consul against a real agent (v1.14.8, ``agent -dev``): registration of the three endpoints
with a passing health check, deregistration at stop, settings from KV and their priority,
Consul down at start (one line, exit 1) and Consul lost and back while the node streams."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.sync.client import connect

from aesel.cli import load_settings
from aesel.config import Settings
from tests.conftest import AeselProcess, stop_aesel
from tests.engines import ConsulAgent, free_port

pytestmark = pytest.mark.integration


def at(x: float) -> list[float]:
    return [1.0, 0.0, 0.0, x, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]


def eventually(cond: Callable[[], Any], within: float = 15.0) -> Any:
    """``cond()``'s first truthy value, polled until ``within`` seconds have passed."""
    deadline = time.monotonic() + within
    while True:
        found = cond()
        if found:
            return found
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def consul_up(c: httpx.Client) -> float:
    m = re.search(r"^aesel_consul_up (\S+)$", c.get("/metrics").text, re.M)
    assert m, "no aesel_consul_up gauge"
    return float(m.group(1))


def is_passing(consul: ConsulAgent, node_id: str) -> bool:
    return any(e["Service"]["ID"] == f"aesel-{node_id}" for e in consul.passing())


def test_a_node_registers_its_three_endpoints_with_a_passing_check_and_leaves_at_stop(
    aesel_process: Callable[..., AeselProcess], consul: ConsulAgent
) -> None:
    p = aesel_process("--consul", consul.url, "--node-id", "n1")
    with httpx.Client(base_url=p.url, timeout=10) as c:
        me = c.get("/v1/cluster").json()["records"][0]
        assert me["id"] == "n1" and me["http_port"] == p.http_port and me["udp_port"] == p.udp_port
        svc = consul.service("aesel-n1")
        assert svc is not None and svc["Service"] == "aesel"
        assert (svc["Address"], svc["Port"]) == ("127.0.0.1", p.http_port)
        ports = {"http": p.http_port, "udp": p.udp_port, "ws": me["ws_port"]}
        assert svc["Meta"] == {"node_id": "n1", **{f"{k}_port": str(v) for k, v in ports.items()}}
        for kind, port in ports.items():
            assert svc["TaggedAddresses"][kind] == {"Address": "127.0.0.1", "Port": port}
        # the agent calls the node's /health, and the check passes
        eventually(lambda: is_passing(consul, "n1"))
        checks = httpx.get(f"{consul.url}/v1/agent/checks", timeout=5).json()
        check = checks["aesel-n1-health"]
        assert check["Status"] == "passing" and check["ServiceID"] == "aesel-n1"
        assert check["Output"].startswith(f"HTTP GET http://127.0.0.1:{p.http_port}/health: 200")
        assert consul_up(c) == 1.0
        assert c.get("/v1/cluster").json()["records"][0]["sources"] == ["self", "consul"]
    err = stop_aesel(p)
    assert p.proc.returncode == 0 and "Traceback" not in err, err
    assert consul.service("aesel-n1") is None  # deregistered at stop
    assert consul.passing() == []


def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [k for k in os.environ if k.upper().startswith("AESEL_")]:
        monkeypatch.delenv(name)


def test_kv_settings_come_after_flags_and_environment_before_defaults(
    consul: ConsulAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_env(monkeypatch)
    secret = "k" * 64
    kv = {"udp_rate": "111", "max_devices_per_scene": "7", "max_body": "5000", "auth": "yes",
          "jwt_secret": secret, "log_level": "warning"}  # fmt: skip
    for name, value in kv.items():
        consul.kv_put(f"aesel/config/{name}", value)
    monkeypatch.setenv("AESEL_UDP_RATE", "222")
    monkeypatch.setenv("AESEL_LOG_LEVEL", "error")
    s = load_settings(["serve", "--consul", consul.url, "--max-devices-per-scene", "9"])
    assert s.max_devices_per_scene == 9  # flag > KV
    assert (s.udp_rate, s.log_level) == (222, "error")  # environment > KV
    assert (s.max_body, s.auth) == (5000, True)  # KV > default
    assert s.jwt_secret.get_secret_value() == secret and secret not in repr(s)  # still secret
    assert s.max_outbox == Settings.model_fields["max_outbox"].default  # default
    # --consul itself may come from the environment
    monkeypatch.setenv("AESEL_CONSUL", consul.url)
    assert load_settings(["serve"]).max_body == 5000
    # read once, at start: a settings object built without KV values ignores the agent
    assert Settings().max_body == Settings.model_fields["max_body"].default


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("nope", "1", "aesel/config/nope in consul names no setting of aesel serve"),
        ("consul", "http://elsewhere:8500", "aesel/config/consul in consul names no setting"),
        ("http_port/x", "1", "aesel/config/http_port/x in consul names no setting"),
        ("auth", "ture", "invalid consul key aesel/config/auth='ture': expected true/false"),
        ("max_body", "-1", "invalid consul key aesel/config/max_body='-1': input should be"),
        ("jwt_secret", "short-and-secret", "invalid consul key aesel/config/jwt_secret: secret"),
    ],
)
def test_a_bad_kv_setting_is_refused_like_a_bad_variable(
    consul: ConsulAgent,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    key: str,
    value: str,
    says: str,
) -> None:
    clean_env(monkeypatch)
    consul.kv_put(f"aesel/config/{key}", value)
    with pytest.raises(SystemExit) as exit:
        load_settings(["serve", "--consul", consul.url])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and says in err, err
    assert "short-and-secret" not in err


def serve(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aesel", "serve", "--http-port", "0", "--udp-port", "0",
         "--ws-port", "0", "--data-dir", str(tmp_path / "data"), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_consul_down_at_start_is_one_line_and_exit_1(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    out = serve("--consul", url, tmp_path=tmp_path)
    assert out.returncode == 1, out.stderr
    assert "aesel ready" not in out.stdout and "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot start: consul at " + url in lines[0], out.stderr


def test_a_kv_value_reaches_the_running_node(
    aesel_process: Callable[..., AeselProcess], consul: ConsulAgent
) -> None:
    consul.kv_put("aesel/config/max_body", "2000")
    p = aesel_process("--consul", consul.url, "--node-id", "kv")
    with httpx.Client(base_url=p.url, timeout=10) as c:
        big = {"scenes": [{"name": "x" * 3000}]}
        assert c.put("/v1/scene/big", json=big).status_code == 413
        assert c.put("/v1/scene/small", json={"scenes": [{"name": "s"}]}).status_code == 200


def test_consul_lost_later_degrades_and_the_node_registers_again_when_it_is_back(
    aesel_process: Callable[..., AeselProcess], consul: ConsulAgent, device_socket: socket.socket
) -> None:
    p = aesel_process("--consul", consul.url, "--node-id", "n1")
    with httpx.Client(base_url=p.url, timeout=10) as c:
        c.put("/v1/scene/s", json={"scenes": [{"name": "s"}]})
        key = c.post("/v1/scene/s/object", json={"objects": [{"name": "o"}]}).json()["objects"][0]
        key = key["key"]
        port = device_socket.getsockname()[1]
        body = {"scenes": [{"key": "s", "devices": [{"key": "d", "hostname": "127.0.0.1",
                                                     "port": port}]}]}  # fmt: skip
        assert c.post("/v1/scene/s/register", json=body).status_code == 200
        ws_port = c.get("/v1/cluster").json()["records"][0]["ws_port"]
        eventually(lambda: is_passing(consul, "n1"))
        with connect(f"ws://127.0.0.1:{ws_port}/") as ws:
            assert orjson.loads(ws.recv(3))["type"] == "welcome"
            ws.send(orjson.dumps({"type": "subscribe", "scene": "s"}).decode())
            assert orjson.loads(ws.recv(3))["type"] == "snapshot"

            consul.stop(signal.SIGKILL)
            eventually(lambda: consul_up(c) == 0.0)
            # streaming and the API go on without Consul
            event = {"msg_type": 1, "key": key, "scene": "s", "transform": at(5.0)}
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(orjson.dumps(event), ("127.0.0.1", p.udp_port))
            assert orjson.loads(device_socket.recv(65536))["transform"] == at(5.0)
            events = orjson.loads(ws.recv(3))
            assert events["type"] == "events" and events["events"][0]["data"]["transform"] == at(
                5.0
            )
            r = c.post(f"/v1/scene/s/object/{key}", json={"objects": [{"transform": at(6.0)}]})
            assert r.status_code == 200
            assert orjson.loads(device_socket.recv(65536))["transform"] == at(6.0)
            cluster = c.get("/v1/cluster").json()
            assert [n["sources"] for n in cluster["records"]] == [["self"]]
            assert c.get("/health").status_code == 200
            time.sleep(2.5)  # more than one watch interval down: still one "lost" line

            consul.start()  # the same address, an empty agent
            eventually(lambda: consul.service("aesel-n1"))
            eventually(lambda: consul_up(c) == 1.0)
            eventually(lambda: is_passing(consul, "n1"))
            assert "lost 1.0" in c.get("/metrics").text.replace("_total ", " ")
    err = stop_aesel(p)
    assert "Traceback" not in err, err
    lost = [line for line in err.splitlines() if "consul at" in line and " lost " in line]
    back = [line for line in err.splitlines() if "is back" in line]
    assert len(lost) == 1 and len(back) == 1, err
    assert consul.service("aesel-n1") is None


async def test_a_node_that_cannot_register_does_not_start(tmp_path: Path) -> None:
    from aesel.app import Node
    from aesel.errors import BackendUnavailable

    url = f"http://127.0.0.1:{free_port()}"
    node = Node(Settings(http_port=0, udp_port=0, ws_port=0, data_dir=tmp_path, consul=url))
    with pytest.raises(BackendUnavailable, match=f"consul at {url}: cannot register aesel-"):
        await node.start()
    await node.stop()  # as aesel serve does: stops what started, without a word from Consul
    assert node.consul is None
