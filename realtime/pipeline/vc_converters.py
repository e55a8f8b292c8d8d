"""Builds a live converter for a voice: its RVC model when one is attached, else the embedded WORLD matcher."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from realtime.config import Settings
from realtime.storage.rvc_models import RVCModelRecord, RVCModelStore
from synthesis.embedded.voice_stats import VoiceStats, analyze_voice
from synthesis.embedded.world_matcher import WorldMatcher
from synthesis.interfaces import Converter, EngineError, VoiceReference
from synthesis.rvc.content import ContentEncoder
from synthesis.rvc.converter import RVCBlockSettings, RVCConverter
from synthesis.rvc.inference import RVCParams
from synthesis.rvc.registry import RVCModelCache
from synthesis.worker import DeviceWorker

EngineChoice = Literal["auto", "world", "rvc"]
_STATS_CACHE = 32


@dataclass(slots=True, frozen=True)
class ConverterRequest:
    engine: EngineChoice = "auto"
    pitch_shift: float = 0.0
    block_ms: int | None = None
    compensate_delay: bool = False
    """RVC only: output sample n is input sample n (for clips such as TTS output, not live streams)."""


class VCServices:
    """Built once in the app lifespan; shared by every live session."""

    def __init__(self, settings: Settings, worker: DeviceWorker, rvc_models: RVCModelStore) -> None:
        self.settings = settings
        self.worker = worker
        self.rvc_models = rvc_models
        self.rvc_cache = RVCModelCache(device=settings.device)
        self.content: ContentEncoder | None = (
            ContentEncoder(settings.content_encoder_dir, device=settings.device)
            if settings.content_encoder_dir is not None else None)
        self._stats: OrderedDict[str, VoiceStats] = OrderedDict()
        self._stats_lock = threading.Lock()

    async def warm_up(self) -> None:
        if self.settings.torch_threads:
            import torch

            torch.set_num_threads(self.settings.torch_threads)
        if self.content is not None:
            await self.worker.run_sync(self.content.load)

    async def build(self, account_id: uuid.UUID, voice: VoiceReference, request: ConverterRequest) -> Converter:
        """Raises ``EngineError`` (``no_rvc_model``, ``rvc_unavailable``, ``invalid_model``, ``invalid_block``, …)."""
        record = await self.rvc_models.get(account_id, uuid.UUID(voice.voice_id))
        engine = request.engine
        if engine == "auto":
            engine = "rvc" if record is not None else "world"
        if engine == "rvc":
            if record is None:
                raise EngineError("no_rvc_model", "this voice has no RVC model; upload one to "
                                  "POST /v1/voices/{id}/rvc-model")
            return await self.worker.submit(lambda: self._rvc(record, request), timeout_s=60)
        return await self.worker.submit(lambda: self._world(voice, request), timeout_s=60)

    def _rvc(self, record: RVCModelRecord, request: ConverterRequest) -> Converter:
        if self.content is None:
            raise EngineError("rvc_unavailable", "RVC needs a content encoder; start the server with "
                              "--content-encoder DIR")
        if not self.content.loaded:
            self.content.load()
        s = self.settings
        model = self.rvc_cache.get(record.model_path, record.index_path)
        params = RVCParams(pitch_shift=request.pitch_shift, index_rate=s.rvc_index_rate, protect=s.rvc_protect,
                           f0_method=s.rvc_f0_method)
        block = RVCBlockSettings(block_ms=request.block_ms or s.vc_rvc_block_ms, context_ms=s.vc_rvc_context_ms,
                                 compensate_delay=request.compensate_delay)
        converter = RVCConverter(model, self.content, params, block)
        converter.warm_up()
        return converter

    def _world(self, voice: VoiceReference, request: ConverterRequest) -> Converter:
        s = self.settings
        block_ms = request.block_ms or s.vc_world_block_ms
        if block_ms % 10:
            raise EngineError("invalid_block", "block_ms must be a multiple of 10")
        return WorldMatcher(self._voice_stats(voice), None, sample_rate_hz=s.vc_world_rate_hz,
                            pitch_semitones=request.pitch_shift, block_ms=block_ms,
                            context_ms=s.vc_world_context_ms)

    def _voice_stats(self, voice: VoiceReference) -> VoiceStats:
        with self._stats_lock:
            cached = self._stats.get(voice.voice_id)
        if cached is not None:
            return cached
        try:
            stats = analyze_voice(voice.samples, voice.sample_rate_hz)
        except ValueError as exc:
            raise EngineError("invalid_voice", f"the voice reference cannot be analysed: {exc}") from None
        with self._stats_lock:
            self._stats[voice.voice_id] = stats
            while len(self._stats) > _STATS_CACHE:
                self._stats.popitem(last=False)
        return stats
