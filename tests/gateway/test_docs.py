"""`/docs` (gateway) and `/_sandbox/docs` (sandbox) work offline: the Swagger UI page names only
URLs of the app itself, and each of them answers."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from canary.settings import Settings
from sandbox import SandboxConfig
from sandbox.app import create_app as create_sandbox
from starter.gateway.app import create_app as create_gateway

APPS: dict[str, tuple[Callable[[], FastAPI], str]] = {
    "gateway": (lambda: create_gateway(Settings(), temporal=None), "/docs"),
    "sandbox": (lambda: create_sandbox(SandboxConfig(seed=False)), "/_sandbox/docs"),
}


@pytest.mark.parametrize("name", sorted(APPS))
async def test_the_docs_page_loads_only_from_the_app(name: str) -> None:
    make, docs = APPS[name]
    app = make()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        page = await http.get(docs)
        assert page.status_code == 200 and "SwaggerUIBundle(" in page.text
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        [spec] = re.findall(r"url: '([^']+)'", page.text)
        assert len(assets) == 3, assets  # the script, the stylesheet, the icon
        for url in [*assets, spec]:
            assert url.startswith(f"{docs}/assets/") or url == app.openapi_url, url
            answer = await http.get(url)
            assert answer.status_code == 200, url
        assert "://" not in page.text
        script = await http.get(f"{docs}/assets/swagger-ui-bundle.js")
        assert "javascript" in script.headers["content-type"] and "SwaggerUIBundle" in script.text
        assert (await http.get(spec)).json()["paths"]
