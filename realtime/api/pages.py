"""The browser client's pages (static files from ``web_client/``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

WEB_CLIENT_DIR = Path(__file__).resolve().parents[2] / "web_client"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index_page() -> FileResponse:
    return FileResponse(WEB_CLIENT_DIR / "index.html")


@router.get("/tts")
async def tts_page() -> FileResponse:
    """Text → speech in the browser, played while it is generated."""
    return FileResponse(WEB_CLIENT_DIR / "tts.html")


@router.get("/vc")
async def vc_page() -> FileResponse:
    """Microphone → WebRTC → converted voice."""
    return FileResponse(WEB_CLIENT_DIR / "vc.html")


@router.get("/obs")
async def obs_page() -> FileResponse:
    """An OBS browser source: plays (and captions) the account's TTS streams relayed on a channel."""
    return FileResponse(WEB_CLIENT_DIR / "obs.html")


@router.get("/pcm-player.js")
async def pcm_player() -> FileResponse:
    return FileResponse(WEB_CLIENT_DIR / "pcm-player.js", media_type="text/javascript")
