"""The published OpenAPI document: FastAPI's, with the custody event's JSON Schema."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from models.event import CustodyEvent


def install_openapi(app: FastAPI) -> None:
    """The custody event is read by hand (to validate it with the intake checks), so its
    JSON Schema is added to ``app``'s published document here."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        event = CustodyEvent.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(event.pop("$defs", {}))
        components["CustodyEvent"] = event
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
