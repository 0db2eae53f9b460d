"""/viewer and /docs are served from files in the package (nothing from a CDN)."""

from __future__ import annotations

import re

import httpx
import pytest

from aesel.app import Node

pytestmark = pytest.mark.integration


async def test_docs_reference_only_local_assets(http: httpx.AsyncClient) -> None:
    html = (await http.get("/docs")).text
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls and all(u.startswith("/static/swagger/") for u in urls), urls
    for u in urls:
        r = await http.get(u)
        assert r.status_code == 200 and len(r.content) > 100, u


async def test_viewer_and_its_config(http: httpx.AsyncClient, node: Node) -> None:
    page = await http.get("/viewer/")
    assert page.status_code == 200 and 'src="/viewer/viewer.js"' in page.text
    assert (await http.get("/viewer")).text == page.text
    script = await http.get("/viewer/viewer.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert (await http.get("/viewer-config.json")).json() == {"ws_port": node.ws_port}
