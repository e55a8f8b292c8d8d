"""F5-TTS behind the ``TTSEngine`` interface: voice cloning from the profile's reference audio and text, streamed.

Per ``synthesize`` call the text is split into batches sized for the reference (a short first one), each batch is
sampled on the device worker (batched with other sessions' batches where possible), and its audio leaves as soon as
it is vocoded while the next batch is already queued; batch joins are crossfaded.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synthesis.f5.crossfade import CrossfadeJoiner
from synthesis.f5.models import LoadedModelSet, ModelSetSpec, load_model_set, resolve_language_sets
from synthesis.f5.sampler import (
    SAMPLE_RATE_HZ,
    BatchJob,
    PreparedReference,
    SamplerSettings,
    generate,
    prepare_reference,
    shift_pitch,
)
from synthesis.f5.text import plan_batches, split_batches
from synthesis.interfaces import AudioChunk, EngineError, Samples, SynthesisParams, VoiceReference
from synthesis.worker import PRIORITY_FIRST, PRIORITY_NORMAL, DeviceWorker

log = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class F5Settings:
    model_dir: Path | None
    language_dirs: dict[str, Path] = field(default_factory=dict)
    nfe_steps: int = 16
    cfg_strength: float = 2.0
    sway_sampling_coef: float = -1.0
    fp16: bool = True
    crossfade_ms: float = 100.0
    first_batch_s: float = 2.0
    context_s: float = 25.0
    chunk_ms: float = 200.0
    max_batch: int = 1
    job_timeout_s: float = 60.0
    reference_cache_size: int = 64
    cpu_threads: int = 1


@dataclass(slots=True)
class _Job:
    models: LoadedModelSet
    job: BatchJob
    pitch_semitones: float


class F5TTSEngine:
    name = "f5"
    requires_voice = True
    sample_rate_hz = SAMPLE_RATE_HZ

    def __init__(self, worker: DeviceWorker, settings: F5Settings) -> None:
        self._worker = worker
        self._settings = settings
        self._sampler = SamplerSettings(settings.nfe_steps, settings.cfg_strength, settings.sway_sampling_coef)
        self._default: LoadedModelSet | None = None
        self._by_language: dict[str, LoadedModelSet] = {}
        self._references: OrderedDict[tuple[str, str], PreparedReference] = OrderedDict()

    @property
    def cache_tag(self) -> str:
        """Identifies what this engine would produce (model files + sampler settings), for synthesis caches."""
        keys = sorted({m.spec.key for m in self._loaded()})
        s = self._settings
        return f"f5:{'|'.join(keys)}:nfe{s.nfe_steps}:cfg{s.cfg_strength}:sway{s.sway_sampling_coef}:xf{s.crossfade_ms}"

    def _loaded(self) -> list[LoadedModelSet]:
        return [m for m in [self._default, *self._by_language.values()] if m is not None]

    async def prepare_voice(self, voice: VoiceReference) -> None:
        return None  # the reference is encoded with the text, per synthesis

    async def warm_up(self) -> None:
        if self._worker.device == "cpu" and self._settings.cpu_threads > 0:
            import torch

            # Several worker threads each running multi-threaded torch oversubscribe the cores (spinning OpenMP
            # threads made a batch 10x slower on a loaded 2-core machine).
            torch.set_num_threads(self._settings.cpu_threads)
        default_spec, language_specs = resolve_language_sets(self._settings.model_dir, self._settings.language_dirs)
        loaded: dict[str, LoadedModelSet] = {}

        async def load(spec: ModelSetSpec) -> LoadedModelSet:
            if spec.key not in loaded:
                fp16 = self._settings.fp16
                loaded[spec.key] = await self._worker.run_sync(
                    functools.partial(load_model_set, spec, self._worker.device, fp16=fp16))
                log.info("F5 model set %s loaded on %s (%s, licence: %s)", spec.root, self._worker.device,
                         loaded[spec.key].dtype_name, spec.licence)
            return loaded[spec.key]

        self._default = await load(default_spec) if default_spec is not None else None
        self._by_language = {lang: await load(spec) for lang, spec in language_specs.items()}
        for models in self._loaded():
            await self._worker.run_sync(functools.partial(self._warm_sample, models))

    def _warm_sample(self, models: LoadedModelSet) -> None:
        noise = (0.05 * np.random.default_rng(0).standard_normal(SAMPLE_RATE_HZ)).astype(np.float32)
        ref = prepare_reference(models, noise, SAMPLE_RATE_HZ, "warm up")
        generate(models, SamplerSettings(2, self._sampler.cfg_strength, self._sampler.sway_sampling_coef),
                 [BatchJob(ref, "warm up.")])

    def _models_for(self, language: str) -> LoadedModelSet:
        models = self._by_language.get(language, self._default)
        if models is None:
            raise EngineError("language_unsupported", f"no F5 model is configured for language {language}")
        return models

    async def _reference(self, models: LoadedModelSet, voice: VoiceReference) -> PreparedReference:
        text = voice.reference_text or ""
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        key = (models.spec.key, f"{voice.voice_id}:{len(voice.samples)}:{digest}")
        cached = self._references.get(key)
        if cached is not None:
            self._references.move_to_end(key)
            return cached
        prepared = await self._worker.submit(
            lambda: prepare_reference(models, voice.samples, voice.sample_rate_hz, text),
            priority=PRIORITY_FIRST, timeout_s=self._settings.job_timeout_s)
        self._references[key] = prepared
        while len(self._references) > self._settings.reference_cache_size:
            self._references.popitem(last=False)
        return prepared

    def _run_batch(self, jobs: list[_Job]) -> list[Samples]:
        waves = generate(jobs[0].models, self._sampler, [j.job for j in jobs])
        return [shift_pitch(w, j.pitch_semitones) for w, j in zip(waves, jobs, strict=True)]

    async def _synthesize_batch(self, job: _Job, priority: int) -> Samples:
        key = (job.models.spec.key, self._sampler)
        return await self._worker.submit_batched(
            key, job, self._run_batch, max_batch=self._settings.max_batch, priority=priority,
            timeout_s=self._settings.job_timeout_s)

    async def synthesize(
        self, text: str, voice: VoiceReference | None, params: SynthesisParams
    ) -> AsyncIterator[AudioChunk]:
        if not text.strip():
            raise EngineError("empty_text", "nothing to say")
        if voice is None:
            raise EngineError("voice_required", "the F5 engine speaks only in a cloned voice: pass a voice_id")
        if not (voice.reference_text or "").strip():
            raise EngineError("reference_text_required",
                              "this voice has no reference_text; F5 needs the words spoken in the reference")
        models = self._models_for(params.language or voice.language)
        reference = await self._reference(models, voice)
        ref_s = len(voice.samples) / voice.sample_rate_hz
        plan = plan_batches(reference.text, ref_s, speed=params.speed, context_s=self._settings.context_s,
                            first_batch_s=self._settings.first_batch_s)
        batches = split_batches(text, plan)
        joiner = CrossfadeJoiner(int(SAMPLE_RATE_HZ * self._settings.crossfade_ms / 1000))
        chunk = max(1, int(SAMPLE_RATE_HZ * self._settings.chunk_ms / 1000))
        jobs = [_Job(models, BatchJob(reference, b, params.speed), params.pitch_semitones) for b in batches]

        pending: asyncio.Task[Samples] | None = asyncio.create_task(
            self._synthesize_batch(jobs[0], PRIORITY_FIRST))
        try:
            for i in range(len(jobs)):
                assert pending is not None
                wave = await pending
                # Queue the next batch before sending this one, so it is computed while this audio streams out.
                pending = asyncio.create_task(self._synthesize_batch(jobs[i + 1], PRIORITY_NORMAL)) \
                    if i + 1 < len(jobs) else None
                ready = joiner.push(wave)
                for start in range(0, len(ready), chunk):
                    yield AudioChunk(ready[start:start + chunk], SAMPLE_RATE_HZ)
            tail = joiner.finish()
            if len(tail):
                yield AudioChunk(tail, SAMPLE_RATE_HZ)
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)
