"""The web app's pages and assets (static files from ``web_client/``; no build step)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

WEB_CLIENT_DIR = Path(__file__).resolve().parents[2] / "web_client"

PAGES = {
    "/": "index.html",  # log in / sign up
    "/app": "app.html",  # dashboard: balance, plans, usage, payments, API keys, password
    "/app/payment": "payment.html",  # where Mercado Pago sends the buyer back
    "/voices": "voices.html",  # library, recorder, upload
    "/tts": "tts.html",  # studio: text → speech played while it is generated
    "/vc": "vc.html",  # microphone → WebRTC → converted voice
    "/obs": "obs.html",  # an OBS browser source: relayed speech with captions
}
ASSETS = {
    "app.css": "text/css",
    "app.js": "text/javascript",
    "i18n.js": "text/javascript",
    "chart.js": "text/javascript",
    "history.js": "text/javascript",
    "pcm-player.js": "text/javascript",
}

router = APIRouter(include_in_schema=False)


def _file_route(path: str, file_name: str, media_type: str) -> None:
    async def serve() -> FileResponse:
        return FileResponse(WEB_CLIENT_DIR / file_name, media_type=media_type, headers={"Cache-Control": "no-cache"})

    router.add_api_route(path, serve, methods=["GET"], name=file_name)


for _path, _file in PAGES.items():
    _file_route(_path, _file, "text/html")
for _file, _type in ASSETS.items():
    _file_route(f"/{_file}", _file, _type)
