"""Helpers for the F5 tests: a voice with noise as reference audio, an engine on its own worker."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from synthesis.f5.engine import F5Settings, F5TTSEngine
from synthesis.interfaces import VoiceReference
from synthesis.worker import DeviceWorker

REFERENCE_TEXT = "Olá, pessoal! Hoje vamos testar a minha voz clonada ao vivo, com calma e bastante clareza."
THREE_SENTENCES = ("Primeira frase, curta e simples. A segunda frase é um pouco mais longa e tem mais palavras. "
                   "E a terceira frase encerra o teste com calma!")


def make_voice(voice_id: str = "voice-1", *, seconds: float = 6.0, text: str | None = REFERENCE_TEXT,
               language: str = "pt-BR") -> VoiceReference:
    rng = np.random.default_rng(zlib.crc32(voice_id.encode()))
    samples = (0.1 * rng.standard_normal(int(24000 * seconds))).astype(np.float32)
    return VoiceReference(voice_id, language, samples, 24000, text)


async def started_engine(model_dir: Path | None, *, threads: int = 1, queue_size: int = 16,
                         **overrides: object) -> tuple[F5TTSEngine, DeviceWorker]:
    worker = DeviceWorker("cpu", threads=threads, queue_size=queue_size)
    await worker.start()
    settings = F5Settings(model_dir=model_dir, **{"nfe_steps": 4, **overrides})  # type: ignore[arg-type]
    engine = F5TTSEngine(worker, settings)
    await engine.warm_up()
    return engine, worker
