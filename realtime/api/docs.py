"""API docs served by the server itself: Swagger UI and ReDoc from local assets, and the WebSocket protocol page."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import fastapi_offline
import markdown
from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel

ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
PROTOCOL_MD = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"

router = APIRouter(include_in_schema=False)


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _error("missing or invalid API key / session (`unauthorized`)"),
    403: _error("`csrf_failed`: a cookie-authenticated change without the X-CSRF-Token header"),
    422: _error("invalid input (`invalid_request` or a specific code)"),
    429: _error("`rate_limited`, with Retry-After"),
}


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="Dublê — API",
                               swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                               swagger_css_url="/docs-assets/swagger-ui.css",
                               swagger_favicon_url="/docs-assets/favicon.png")


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    return get_redoc_html(openapi_url="/openapi.json", title="Dublê — API",
                          redoc_js_url="/docs-assets/redoc.standalone.js",
                          redoc_favicon_url="/docs-assets/favicon.png", with_google_fonts=False)


@router.get("/docs-assets/{name}")
async def docs_asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404, "no such asset")
    return FileResponse(ASSETS_DIR / name, media_type=media_type,
                        headers={"Cache-Control": "public, max-age=86400"})


def render_protocol(md_text: str) -> str:
    body = markdown.markdown(md_text, extensions=["tables", "fenced_code", "toc"])
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape('Dublê — streaming protocol')}</title>"
        '<link rel="stylesheet" href="/app.css"></head><body class="doc">'
        '<nav class="doc-nav"><a href="/">Dublê</a> · <a href="/docs">REST (Swagger)</a> · <a href="/redoc">ReDoc</a>'
        f'</nav><main class="doc-body">{body}</main></body></html>'
    )


@router.get("/docs/protocol")
def protocol_page() -> HTMLResponse:
    """docs/protocol.md rendered (a plain def: FastAPI runs it in its thread pool, off the event loop)."""
    return HTMLResponse(render_protocol(PROTOCOL_MD.read_text("utf-8")))
