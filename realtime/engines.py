"""Builds the configured engines (configuration in, engine objects out)."""

from __future__ import annotations

from realtime.config import Settings
from synthesis.interfaces import TTSEngine
from synthesis.worker import DeviceWorker


def build_tts_engine(settings: Settings, worker: DeviceWorker) -> TTSEngine:
    if settings.tts_engine == "embedded":
        from synthesis.embedded.engine import EmbeddedTTSEngine

        embedded: TTSEngine = EmbeddedTTSEngine(
            worker, base_voices=settings.embedded_base_voices,
            alternate_base_voices=settings.embedded_alternate_base_voices, kokoro_cache_dir=settings.kokoro_cache_dir,
            kokoro_threads=settings.kokoro_threads, job_timeout_s=settings.job_timeout_s)
        return embedded
    if settings.tts_engine == "fake":
        from synthesis.fake import FakeTTSEngine, FakeTTSSettings

        return FakeTTSEngine(worker, FakeTTSSettings(
            latency_ms_per_chunk=settings.fake_tts_latency_ms, fail_after_chunks=settings.fake_tts_fail_after,
            fail_retryable=settings.fake_tts_fail_retryable,
        ))
    if settings.tts_engine == "f5":
        from synthesis.f5.engine import F5Settings, F5TTSEngine

        max_batch = settings.f5_max_batch or (8 if settings.device.startswith("cuda") else 1)
        return F5TTSEngine(worker, F5Settings(
            model_dir=settings.f5_dir, language_dirs=dict(settings.f5_language_dirs),
            nfe_steps=settings.f5_nfe_steps, cfg_strength=settings.f5_cfg_strength,
            sway_sampling_coef=settings.f5_sway_sampling_coef, fp16=settings.f5_fp16,
            crossfade_ms=settings.f5_crossfade_ms, first_batch_s=settings.f5_first_batch_s, max_batch=max_batch,
            job_timeout_s=settings.job_timeout_s, cpu_threads=settings.f5_cpu_threads,
        ))
    raise ValueError(f"unknown TTS engine {settings.tts_engine!r}")
