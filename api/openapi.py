"""The published OpenAPI document: FastAPI's, with the custody event's JSON Schema; and
the documentation over it (``/docs``, ``/redoc``), served from bundled assets."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from api.acro_replies import InboundReply
from models.event import CustodyEvent
from models.located import EventCorrection

# Bodies read by hand (validated by the route itself), whose JSON Schema the routes name
# as ``#/components/schemas/<name>``: each is added to the published document.
HAND_READ_BODIES: dict[str, type[BaseModel]] = {
    "CustodyEvent": CustodyEvent,  # api.custody_events (the intake checks)
    "EventCorrection": EventCorrection,  # api.custody_amendments
    "InboundReply": InboundReply,  # api.acro_replies (issue 22)
}


def install_openapi(app: FastAPI) -> None:
    """The bodies read by hand (``HAND_READ_BODIES``) have their JSON Schemas added to
    ``app``'s published document here."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, model in HAND_READ_BODIES.items():
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(body.pop("$defs", {}))
            components[name] = body
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


# --- the API's documentation, offline --------------------------------------------------

# Swagger UI and ReDoc as the ``fastapi-offline`` package ships them: served from this
# process (no CDN: they work on a network without the Internet, and load no script
# from elsewhere), with a script of our own to start Swagger UI (no inline script).
DOCS_ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SWAGGER_INIT = """\
(function () {
  var spec = document.currentScript.getAttribute("data-spec");
  window.ui = SwaggerUIBundle({
    url: spec,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
"""


def _page(title: str, head: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en-GB">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"{head}</head>\n<body>\n{body}</body>\n</html>\n"
    )


def install_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` over ``/openapi.json``, every script and
    style from ``/docs/assets`` (bundled), under a Content Security Policy that allows
    nothing from elsewhere."""
    app.mount("/docs/assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    headers = {"Content-Security-Policy": DOCS_CSP}

    def base(request: Request) -> str:
        return html.escape(str(request.scope.get("root_path", "")).rstrip("/"), quote=True)

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        b = base(request)
        return HTMLResponse(
            _page(
                f"{app.title} – API",
                f'<link rel="stylesheet" href="{b}/docs/assets/swagger-ui.css">\n'
                f'<link rel="icon" href="{b}/docs/assets/favicon.png">\n',
                '<div id="swagger-ui"></div>\n'
                f'<script src="{b}/docs/assets/swagger-ui-bundle.js"></script>\n'
                f'<script src="{b}/docs/init.js" data-spec="{b}{app.openapi_url}"></script>\n',
            ),
            headers=headers,
        )

    @app.get("/docs/init.js", include_in_schema=False)
    async def swagger_init() -> Response:
        return Response(SWAGGER_INIT, media_type="text/javascript", headers=headers)

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        b = base(request)
        return HTMLResponse(
            _page(
                f"{app.title} – API",
                f'<link rel="icon" href="{b}/docs/assets/favicon.png">\n',
                f'<redoc spec-url="{b}{app.openapi_url}"></redoc>\n'
                f'<script src="{b}/docs/assets/redoc.standalone.js"></script>\n',
            ),
            headers=headers,
        )
