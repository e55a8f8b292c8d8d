"""TTS → RVC: a stage between a TTS session and its transport that passes the spoken audio through a converter.

Audio frames are converted as they arrive (resampled to the converter's rate and back) on the device worker. At each
sentence's ``segment`` (or ``error``) frame the converter is flushed, so that sentence's converted audio leaves, at its
exact length, before the event that describes it; ``cancel`` drops whatever the converter still holds.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Awaitable, Callable

import numpy as np

from realtime.frames import AudioFrame, CancelledFrame, DoneFrame, ErrorFrame, OutputFrame, SegmentFrame
from realtime.pipeline.vc_converters import ConverterRequest, VCServices
from synthesis.dsp.resample import StreamResampler
from synthesis.interfaces import Converter, EngineError, Samples, VoiceReference
from synthesis.worker import PRIORITY_FIRST, PRIORITY_NORMAL, DeviceWorker

Emit = Callable[[OutputFrame], Awaitable[None]]

# Speech is not live input: a longer block than live conversion uses spends less compute on context per second.
TTS_RVC_BLOCK_MS = 200
JOB_TIMEOUT_S = 30.0


async def open_convert_stage(services: VCServices, account_id: uuid.UUID, voice: VoiceReference | None,
                             rate_hz: int, emit: Emit) -> ConvertStage:
    """The voice's RVC model as a stage; ``EngineError('no_rvc_model')`` when there is none."""
    if voice is None:
        raise EngineError("no_rvc_model", "convert needs a voice_id whose voice has an RVC model")
    request = ConverterRequest("rvc", 0.0, TTS_RVC_BLOCK_MS, compensate_delay=True)
    converter = await services.build(account_id, voice, request)
    return ConvertStage(converter, services.worker, rate_hz, emit)


class ConvertStage:
    """Callable as a session's ``emit``; converted audio and the other frames go on to ``emit``, in order."""

    def __init__(self, converter: Converter, worker: DeviceWorker, rate_hz: int, emit: Emit) -> None:
        self._converter = converter
        self._worker = worker
        self.rate_hz = rate_hz
        self._emit = emit
        # A job abandoned by cancel keeps running on its thread; the next job must not touch the converter meanwhile.
        self._lock = threading.Lock()
        self._held_samples = 0
        self._to_model, self._from_model = self._resamplers()

    def _resamplers(self) -> tuple[StreamResampler, StreamResampler]:
        model_hz = self._converter.sample_rate_hz
        return StreamResampler(self.rate_hz, model_hz), StreamResampler(model_hz, self.rate_hz)

    async def __call__(self, frame: OutputFrame) -> None:
        if isinstance(frame, AudioFrame):
            if frame.sample_rate_hz != self.rate_hz:
                raise EngineError("invalid_audio", f"the converter stage expects {self.rate_hz} Hz audio")
            priority = PRIORITY_FIRST if self._held_samples == 0 else PRIORITY_NORMAL
            self._held_samples += len(frame.samples)
            await self._send(await self._job(lambda: self._convert(frame.samples), priority))
        elif isinstance(frame, SegmentFrame | ErrorFrame | DoneFrame):
            if self._held_samples:
                await self._send(await self._job(self._flush, PRIORITY_FIRST))
            await self._emit(frame)
        elif isinstance(frame, CancelledFrame):
            if self._held_samples:
                await self._job(self._flush, PRIORITY_FIRST)
            await self._emit(frame)
        else:
            await self._emit(frame)

    async def _job(self, fn: Callable[[], Samples], priority: int) -> Samples:
        def locked() -> Samples:
            with self._lock:
                return fn()

        return await self._worker.submit(locked, priority=priority, timeout_s=JOB_TIMEOUT_S)

    def _convert(self, samples: Samples) -> Samples:
        return self._from_model.process(self._converter.process(self._to_model.process(samples)))

    def _flush(self) -> Samples:
        held = self._converter.process(self._to_model.flush())
        held = np.concatenate([held, self._converter.flush()])
        out = np.concatenate([self._from_model.process(held), self._from_model.flush()])
        self._to_model, self._from_model = self._resamplers()
        self._held_samples = 0
        return out

    async def _send(self, samples: Samples) -> None:
        if len(samples):
            await self._emit(AudioFrame(samples.astype(np.float32, copy=False), self.rate_hz))
