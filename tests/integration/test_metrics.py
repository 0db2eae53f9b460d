"""``GET /metrics`` after real traffic."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from aesel.app import Node
from tests.conftest import register, stall

pytestmark = pytest.mark.integration


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_count_events_deliveries_drops_and_latency(
    http: httpx.AsyncClient, make_device: Any, node: Node
) -> None:
    devs = [await make_device() for _ in range(3)]
    for i, d in enumerate(devs):
        await register(http, "s", d, f"d{i}")
    r = await http.post("/v1/scene/s/object", json={"objects": [{"name": "o", "scene": "s"}]})
    key = r.json()["objects"][0]["key"]
    for d in devs:
        await d.recv()
    devs[0].send({"msg_type": 1, "key": key, "scene": "s", "transform": [1.0] * 16})
    devs[0].send(b"{not json")
    for d in devs:
        await d.recv()
    r = await http.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    m = samples(r.text)
    assert m[("aesel_events_in_total", (("transport", "udp"),))] == 2
    assert m[("aesel_deliveries_total", (("transport", "udp"),))] == 6
    assert m[("aesel_events_out_total", (("transport", "udp"),))] == 6
    assert m[("aesel_drops_total", (("reason", "malformed"),))] == 1
    assert m[("aesel_subscribers", (("transport", "udp"),))] == 3
    assert m[("aesel_delivery_latency_seconds_count", ())] == 2
    assert m[("aesel_slow_consumer_disconnects_total", ())] == 0
    assert m[("aesel_outbox_depth", ())] == 0


async def test_loop_lag_shows_a_stalled_loop(http: httpx.AsyncClient, node: Node) -> None:
    def lag() -> float:
        return samples(r.text)[("aesel_loop_lag_seconds", ())]

    await asyncio.sleep(0.15)  # the node's start-up, moments ago, is out of the lag's window
    r = await http.get("/metrics")
    assert lag() < 0.05  # idle
    stall(0.2)
    await asyncio.sleep(0.02)  # the timer fires, late
    r = await http.get("/metrics")
    assert lag() >= 0.15
