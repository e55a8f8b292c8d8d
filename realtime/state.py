"""Everything the lifespan builds, handed to endpoints through ``request.app.state.duble``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import asyncpg
import redis.asyncio as aioredis

from billing.accounts import AccountStore
from billing.runtime import BillingServices
from realtime.auth.web import WebAuth
from realtime.config import Settings
from realtime.drain import Drain
from realtime.ops_metrics import Metrics
from realtime.pipeline.broadcast import BroadcastHub
from realtime.storage.listen_tokens import ListenTokenStore
from realtime.voices.store import VoiceStore
from synthesis.interfaces import TTSEngine
from synthesis.worker import DeviceWorker

if TYPE_CHECKING:  # these modules import AppState themselves
    from realtime.pipeline.language_detect import LanguageDetector
    from realtime.pipeline.tts_cache import TTSCache
    from realtime.pipeline.vc_converters import VCServices
    from realtime.transports.webrtc import WebRTCSessions


@dataclass(slots=True)
class AppState:
    settings: Settings
    pool: asyncpg.Pool
    redis: aioredis.Redis
    worker: DeviceWorker
    accounts: AccountStore
    voices: VoiceStore
    tts_engine: TTSEngine
    billing: BillingServices
    vc: VCServices
    webrtc: WebRTCSessions
    tts_cache: TTSCache | None
    broadcast: BroadcastHub
    listen_tokens: ListenTokenStore
    web: WebAuth
    drain: Drain
    metrics: Metrics
    language_detector: LanguageDetector | None = None
    # Each untrusted-model check is a child process with up to a few GB; this many at once.
    rvc_validations: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
