"""The FastAPI application: everything stateful is built in the lifespan and kept on ``app.state.duble``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from billing.accounts import AccountStore
from billing.runtime import BillingServices
from realtime.api import accounts, base_voices, listen_tokens, metrics, pages, rvc_models, voices
from realtime.api import billing as billing_api
from realtime.config import Settings
from realtime.engines import build_tts_engine
from realtime.errors import install_error_handlers
from realtime.pipeline.broadcast import BroadcastHub
from realtime.pipeline.language_detect import LanguageDetector
from realtime.pipeline.tts_cache import with_tts_cache
from realtime.pipeline.vc_converters import VCServices
from realtime.state import AppState
from realtime.storage.db import create_pool, migrate
from realtime.storage.listen_tokens import ListenTokenStore
from realtime.storage.rvc_models import RVCModelStore
from realtime.transports import webrtc, ws_listen, ws_tts, ws_vc
from realtime.voices.store import VoiceStore
from synthesis.worker import DeviceWorker


def create_app(settings: Settings | None = None) -> FastAPI:
    cfg = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await migrate(cfg.database_url)
        pool = await create_pool(cfg.database_url)
        redis = aioredis.from_url(cfg.redis_url, socket_timeout=5, socket_connect_timeout=5)
        worker = DeviceWorker(cfg.device, threads=cfg.worker_threads, queue_size=cfg.worker_queue_size,
                              max_wait_s=cfg.worker_max_wait_s)
        await worker.start()
        billing: BillingServices | None = None
        try:
            billing = await billing_api.start_billing(cfg, pool, redis)
            engine = build_tts_engine(cfg, worker)
            detector = LanguageDetector() if cfg.language_detection else None
            # The detector loads on its own thread while the engine warms up on the worker's.
            await asyncio.gather(engine.warm_up(), asyncio.to_thread(detector.load) if detector else asyncio.sleep(0))
            engine, tts_cache = with_tts_cache(engine, redis, cfg)
            vc = VCServices(cfg, worker, RVCModelStore(pool))
            await vc.warm_up()
            async with webrtc.WebRTCSessions(cfg) as rtc:
                app.state.duble = AppState(
                    settings=cfg, pool=pool, redis=redis, worker=worker, accounts=AccountStore(pool),
                    voices=VoiceStore(pool), tts_engine=engine, billing=billing, vc=vc, webrtc=rtc,
                    tts_cache=tts_cache, broadcast=BroadcastHub(), listen_tokens=ListenTokenStore(pool),
                    language_detector=detector,
                )
                yield
        finally:
            if billing is not None:
                await billing.stop()
            await worker.stop()
            await redis.aclose()
            await pool.close()

    app = FastAPI(title="Dublê", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(accounts.router)
    app.include_router(voices.router)
    app.include_router(base_voices.router)
    app.include_router(ws_tts.router)
    app.include_router(ws_listen.router)
    app.include_router(ws_vc.router)
    app.include_router(webrtc.router)
    app.include_router(rvc_models.router)
    app.include_router(metrics.router)
    app.include_router(pages.router)
    app.include_router(listen_tokens.router)
    app.include_router(billing_api.router)
    app.add_middleware(billing_api.RateLimitMiddleware)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> JSONResponse:
        state: AppState = app.state.duble
        await state.pool.fetchval("SELECT 1")
        await state.redis.ping()
        return JSONResponse({"status": "ok", "tts_engine": state.tts_engine.name,
                             "queue_depth": state.worker.queue_depth})

    return app
