"""The FastAPI application: everything stateful is built in the lifespan and kept on ``app.state.duble``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from billing.accounts import AccountStore
from billing.passwords import Passwords
from billing.redis_client import connect_redis
from billing.runtime import BillingServices
from realtime.api import (
    accounts,
    api_keys,
    auth,
    base_voices,
    docs,
    listen_tokens,
    metrics,
    pages,
    payment_history,
    rvc_models,
    usage_daily,
    voice_media,
    voices,
)
from realtime.api import billing as billing_api
from realtime.auth.credentials import CredentialStore
from realtime.auth.sessions import WebSessionStore
from realtime.auth.web import WebAuth
from realtime.body_limits import FORM_LIMITS, BodyLimitMiddleware, upload_bounds
from realtime.config import Settings
from realtime.drain import Drain, DrainMiddleware
from realtime.engines import build_tts_engine
from realtime.errors import install_error_handlers
from realtime.ops_metrics import Metrics
from realtime.pipeline.broadcast import BroadcastHub
from realtime.pipeline.language_detect import LanguageDetector
from realtime.pipeline.tts_cache import with_tts_cache
from realtime.pipeline.vc_converters import VCServices
from realtime.session_observer import SessionObserver
from realtime.state import AppState
from realtime.storage.db import create_pool, migrate
from realtime.storage.listen_tokens import ListenTokenStore
from realtime.storage.rvc_models import RVCModelStore
from realtime.transports import webrtc, ws_listen, ws_tts, ws_vc
from realtime.voices.store import VoiceStore
from synthesis.worker import DeviceWorker


def create_app(settings: Settings | None = None) -> FastAPI:
    cfg = settings or Settings()
    drain = Drain(cfg.drain_deadline_s)
    ops_metrics = Metrics()  # per app, not per lifespan: the edge middleware below feeds it

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await migrate(cfg.database_url)
        pool = await create_pool(cfg.database_url)
        redis = connect_redis(cfg.redis_url)
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
            async with webrtc.WebRTCSessions(cfg) as rtc, BroadcastHub(redis, cfg.redis_prefix) as hub:
                app.state.duble = AppState(
                    settings=cfg, pool=pool, redis=redis, worker=worker, accounts=AccountStore(pool),
                    voices=VoiceStore(pool), tts_engine=engine, billing=billing, vc=vc, webrtc=rtc,
                    tts_cache=tts_cache, broadcast=hub, listen_tokens=ListenTokenStore(pool),
                    web=WebAuth(WebSessionStore(pool), CredentialStore(pool), Passwords(),
                                secure_cookies=cfg.public_base_url.startswith("https://")),
                    drain=drain, metrics=ops_metrics, language_detector=detector,
                )
                yield
        finally:
            if billing is not None:
                await billing.stop()
            await worker.stop()
            await redis.aclose()
            await pool.close()

    app = FastAPI(title="Dublê", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  responses=docs.ERROR_RESPONSES, form_limits=FORM_LIMITS)
    app.state.drain = drain
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
    app.include_router(auth.router)
    app.include_router(api_keys.router)
    app.include_router(payment_history.router)
    app.include_router(usage_daily.router)
    app.include_router(voice_media.router)
    app.include_router(docs.router)
    app.add_middleware(billing_api.RateLimitMiddleware)
    app.add_middleware(DrainMiddleware, drain=drain)
    app.add_middleware(SessionObserver, metrics=ops_metrics)
    app.add_middleware(BodyLimitMiddleware, bounds=upload_bounds(cfg.max_upload_bytes, cfg.rvc_max_model_bytes))

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> JSONResponse:
        state: AppState = app.state.duble
        if drain.draining:  # the proxy stops sending new sessions here
            return JSONResponse({"status": "draining"}, status_code=503)
        await state.pool.fetchval("SELECT 1")
        await state.redis.ping()
        return JSONResponse({"status": "ok", "tts_engine": state.tts_engine.name,
                             "queue_depth": state.worker.queue_depth})

    return app
