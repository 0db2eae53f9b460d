"""The scene viewer at ``/viewer`` and an offline ``/docs``, from files in the package.

Both are built from pinned npm packages by ``clients/web/build.sh`` and committed under
``aesel/rest/static/`` (the viewer bundled with three.js; Swagger UI copied from
swagger-ui-dist), so neither needs a build step or the internet.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add ``/viewer`` (the viewer, its ``config.json``) and ``/docs`` on local assets.

    The app must be created with ``docs_url=None``; this adds its own ``/docs``.
    """

    @app.get("/viewer", include_in_schema=False)
    async def viewer_root() -> FileResponse:
        """The page itself, as ``/viewer/`` (it names its script by absolute path)."""
        return FileResponse(STATIC / "viewer" / "index.html")

    @app.get("/viewer-config.json", include_in_schema=False)
    async def viewer_config(request: Request) -> JSONResponse:
        """Where the viewer finds the WebSocket (the node sets ``app.state.ws_port``)."""
        return JSONResponse({"ws_port": getattr(request.app.state, "ws_port", None)})

    app.mount("/viewer", StaticFiles(directory=STATIC / "viewer", html=True), name="viewer")
    app.mount("/static/swagger", StaticFiles(directory=STATIC / "swagger"), name="swagger")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
        )
