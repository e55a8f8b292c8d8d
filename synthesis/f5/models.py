"""F5 model sets on local disk and their loading through f5-tts's own loaders.

A model set is a directory::

    f5.json            {"arch": "F5TTS_v1_Base" | {DiT kwargs}, "checkpoint": "model.safetensors",
                        "vocab": "vocab.txt", "vocoder": "vocos", "licence": "..."}   (all keys optional)
    model.safetensors  (or *.pt with ``ema_model_state_dict``)
    vocab.txt
    vocos/config.yaml + vocos/pytorch_model.bin

A sub-directory named after a language (``pt-BR/``, ``es/``, ``en/``) holding its own set overrides the root set for
voices of that language; a missing vocab or vocoder there falls back to the root's.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from synthesis.interfaces import LANGUAGES, EngineError

log = logging.getLogger(__name__)

MANIFEST = "f5.json"
DEFAULT_ARCH = "F5TTS_v1_Base"
_CHECKPOINT_SUFFIXES = (".safetensors", ".pt")


@dataclass(slots=True, frozen=True)
class ModelSetSpec:
    """Resolved paths of one model set (nothing loaded yet)."""

    root: Path
    checkpoint: Path
    vocab: Path
    vocoder_dir: Path
    arch: dict[str, Any]
    licence: str = "unknown"

    @property
    def key(self) -> str:
        return str(self.checkpoint.resolve())


@dataclass(slots=True)
class LoadedModelSet:
    spec: ModelSetSpec
    model: Any  # f5_tts.model.CFM
    vocoder: Any  # vocos.Vocos
    device: str
    dtype_name: str


def package_arch(name: str) -> dict[str, Any]:
    """The DiT arguments of one of f5-tts's shipped configs (e.g. ``F5TTS_v1_Base``)."""
    path = files("f5_tts").joinpath(f"configs/{name}.yaml")
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EngineError("model_config", f"unknown F5 architecture {name!r}") from None
    if cfg["model"]["backbone"] != "DiT":
        raise EngineError("model_config", f"{name}: only DiT backbones are supported")
    return dict(cfg["model"]["arch"])


def _find_checkpoint(root: Path) -> Path | None:
    found = sorted(p for p in root.iterdir() if p.is_file() and p.suffix in _CHECKPOINT_SUFFIXES)
    return found[-1] if found else None


def _read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EngineError("model_config", f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise EngineError("model_config", f"{path}: expected a JSON object")
    return data


def resolve_model_set(root: Path, fallback: ModelSetSpec | None = None) -> ModelSetSpec:
    """Resolve a model-set directory to concrete paths; raises ``EngineError('model_missing')`` with what is absent."""
    if not root.is_dir():
        raise EngineError("model_missing", f"F5 model directory {root} does not exist")
    manifest = _read_manifest(root)
    checkpoint = root / manifest["checkpoint"] if "checkpoint" in manifest else _find_checkpoint(root)
    if checkpoint is None or not checkpoint.is_file():
        raise EngineError("model_missing", f"no F5 checkpoint (.safetensors or .pt) in {root}")
    vocab = root / manifest.get("vocab", "vocab.txt")
    if not vocab.is_file():
        if fallback is None:
            raise EngineError("model_missing", f"no vocab file {vocab}")
        vocab = fallback.vocab
    vocoder_dir = root / manifest.get("vocoder", "vocos")
    if not (vocoder_dir / "config.yaml").is_file() or not (vocoder_dir / "pytorch_model.bin").is_file():
        if fallback is None:
            raise EngineError("model_missing", f"no Vocos vocoder (config.yaml + pytorch_model.bin) in {vocoder_dir}")
        vocoder_dir = fallback.vocoder_dir
    arch_field = manifest.get("arch", fallback.arch if fallback else DEFAULT_ARCH)
    arch = package_arch(arch_field) if isinstance(arch_field, str) else dict(arch_field)
    return ModelSetSpec(root, checkpoint, vocab, vocoder_dir, arch, str(manifest.get("licence", "unknown")))


def resolve_language_sets(
    default_dir: Path | None, language_dirs: dict[str, Path]
) -> tuple[ModelSetSpec | None, dict[str, ModelSetSpec]]:
    """The default set plus one per language (explicit ``language_dirs`` win over ``<default_dir>/<language>/``)."""
    default = resolve_model_set(default_dir) if default_dir is not None else None
    per_language: dict[str, ModelSetSpec] = {}
    for language in LANGUAGES:
        explicit = language_dirs.get(language)
        if explicit is not None:
            per_language[language] = resolve_model_set(explicit, default)
        elif default_dir is not None and (default_dir / language).is_dir():
            per_language[language] = resolve_model_set(default_dir / language, default)
    unknown = set(language_dirs) - set(LANGUAGES)
    if unknown:
        raise EngineError("model_config", f"F5 model directories for unknown languages: {sorted(unknown)}")
    if default is None and not per_language:
        raise EngineError("model_missing", "no F5 model configured: set DUBLE_F5_DIR (or --f5-dir)")
    return default, per_language


@contextlib.contextmanager
def _quiet_f5() -> Iterator[None]:
    """f5-tts prints paths while loading and its infer module warns about ffmpeg (pydub) on import."""
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink):
        warnings.simplefilter("ignore")
        yield
    for line in sink.getvalue().splitlines():
        if line.strip():
            log.debug("f5-tts: %s", line.strip())


def load_model_set(spec: ModelSetSpec, device: str, *, fp16: bool) -> LoadedModelSet:
    """Load checkpoint + vocoder with f5-tts's ``load_model`` / ``load_vocoder(is_local=True)`` (blocking)."""
    import torch

    with _quiet_f5():
        from f5_tts.infer.utils_infer import load_model, load_vocoder
        from f5_tts.model import DiT

        try:
            model = load_model(DiT, spec.arch, str(spec.checkpoint), mel_spec_type="vocos",
                               vocab_file=str(spec.vocab), device=device)
            vocoder = load_vocoder("vocos", is_local=True, local_path=str(spec.vocoder_dir), device=device)
        except (RuntimeError, KeyError, OSError, ValueError) as exc:
            raise EngineError("model_load_failed", f"could not load F5 model set {spec.root}: {exc}") from exc
    dtype = torch.float16 if fp16 and device.startswith("cuda") else torch.float32
    model = model.to(dtype).eval()
    return LoadedModelSet(spec, model, vocoder.eval(), device, str(dtype).removeprefix("torch."))
