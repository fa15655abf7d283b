"""Swagger UI served by the app itself, so `/docs` works without the internet.

FastAPI's own docs page loads Swagger UI from a CDN and is blank offline (or behind a
firewall). The `swagger-ui-bundle-v2` package ships Swagger UI's files; the app serves them
under ``<docs>/assets`` and the page names only those. The gateway and the sandbox both use it.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

#: The files of Swagger UI the page loads, under the docs page's ``/assets``.
SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
FAVICON = "favicon-32x32.png"


def serve_docs(app: FastAPI, docs_url: str) -> None:
    """Serve Swagger UI for ``app``'s OpenAPI at ``docs_url`` from local assets (create the app
    with ``docs_url=None`` so FastAPI adds no CDN page of its own)."""
    openapi_url = app.openapi_url
    if openapi_url is None:
        raise ValueError("the docs page needs the app's OpenAPI (openapi_url is None)")
    assets = f"{docs_url}/assets"
    app.mount(assets, StaticFiles(directory=str(swagger_ui_path)), name=f"{docs_url}-assets")

    async def swagger_ui(request: Request) -> HTMLResponse:
        # Behind a proxy that strips a prefix, every URL on the page keeps that prefix.
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{assets}/{SWAGGER_JS}",
            swagger_css_url=f"{root}{assets}/{SWAGGER_CSS}",
            swagger_favicon_url=f"{root}{assets}/{FAVICON}",
        )

    app.add_route(docs_url, swagger_ui, include_in_schema=False)
