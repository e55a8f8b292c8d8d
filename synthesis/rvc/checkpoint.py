"""Reading and writing RVC model files: ``{"weight", "config", "f0", "version", "sr", "info"}`` saved by torch."""

from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from synthesis.interfaces import EngineError
from synthesis.rvc.synthesizer import SynthConfig, Synthesizer

SAMPLE_RATE_TAGS = {32000: "32k", 40000: "40k", 48000: "48k"}
_TRAINING_ONLY_PREFIX = "enc_q."


@dataclass(slots=True, frozen=True)
class RVCModelInfo:
    sample_rate_hz: int
    use_f0: bool
    version: str
    speakers: int
    dtype: str
    """As stored in the file."""
    device: str = "cpu"
    run_dtype: str = "float32"
    """What inference runs in."""


def _model_error(message: str) -> EngineError:
    return EngineError("invalid_model", message)


def _renamed(key: str) -> str:
    # Newer torch weight-norm parametrisation names, written by some RVC forks.
    return key.replace(".parametrizations.weight.original0", ".weight_g").replace(
        ".parametrizations.weight.original1", ".weight_v")


def read_checkpoint(data: bytes | Path) -> dict[str, Any]:
    """Unpickle safely (tensors and plain containers only); any failure is ``EngineError('invalid_model')``."""
    try:
        source: Any = io.BytesIO(data) if isinstance(data, bytes) else str(data)
        cpt = torch.load(source, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise _model_error("the RVC model file is missing") from None
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError, OSError) as exc:
        raise _model_error(f"not a readable RVC .pth file ({type(exc).__name__})") from None
    if not isinstance(cpt, dict) or not isinstance(cpt.get("weight"), dict) or not isinstance(cpt.get("config"), list):
        raise _model_error("not an RVC model: expected a dict with 'weight' and 'config'")
    return cpt


def inference_dtype(device: str, checkpoint_dtype: torch.dtype) -> torch.dtype:
    """fp16 only on CUDA and only for fp16 checkpoints; CPU kernels are fp32 (half is slower there, or missing)."""
    if checkpoint_dtype == torch.float16 and torch.device(device).type == "cuda":
        return torch.float16
    return torch.float32


def build_synthesizer(cpt: dict[str, Any], *, device: str = "cpu",
                      dtype: torch.dtype | None = None) -> tuple[Synthesizer, RVCModelInfo]:
    """``dtype`` None picks ``inference_dtype(device, checkpoint dtype)``."""
    version = str(cpt.get("version", "v1"))
    if version != "v2":
        raise _model_error(f"RVC {version} models are not supported; use a v2 model (768-d content features)")
    weights = {_renamed(k): v for k, v in cpt["weight"].items() if not k.startswith(_TRAINING_ONLY_PREFIX)}
    if "emb_g.weight" not in weights:
        raise _model_error("the RVC model has no speaker embedding (emb_g.weight)")
    config = list(cpt["config"])
    try:
        # RVC stores the real speaker count in the weights; the config entry can be stale.
        config[-3] = int(weights["emb_g.weight"].shape[0])
        cfg = SynthConfig.from_list(config)
    except (ValueError, TypeError, IndexError) as exc:
        raise _model_error(f"invalid RVC config: {exc}") from None
    if cfg.sr not in SAMPLE_RATE_TAGS:
        raise _model_error(f"unsupported RVC sample rate {cfg.sr} (32000, 40000 or 48000)")
    use_f0 = bool(int(cpt.get("f0", 1)))
    net = Synthesizer(cfg, use_f0)
    stored = next(iter(weights.values())).dtype
    try:
        net.load_state_dict({k: v.float() for k, v in weights.items()}, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:2]
        raise _model_error("RVC weights do not match the v2 architecture: " + " ".join(first)[:300]) from None
    run_dtype = dtype or inference_dtype(device, stored)
    net.eval().to(device=device, dtype=run_dtype)
    info = RVCModelInfo(cfg.sr, use_f0, version, cfg.spk_embed_dim, str(stored).removeprefix("torch."),
                        device, str(run_dtype).removeprefix("torch."))
    return net, info


def load_rvc_model(path: Path | bytes, *, device: str = "cpu",
                   dtype: torch.dtype | None = None) -> tuple[Synthesizer, RVCModelInfo]:
    return build_synthesizer(read_checkpoint(path), device=device, dtype=dtype)


def save_rvc_model(net: Synthesizer, path: Path, *, half: bool = True, info: str = "") -> None:
    """Write ``net`` the way RVC exports a trained model (weights without ``enc_q``, fp16 by default)."""
    weight = {k: (v.half() if half else v.float()).contiguous() for k, v in net.state_dict().items()}
    cpt = {
        "weight": weight,
        "config": net.cfg.to_list(),
        "info": info,
        "sr": SAMPLE_RATE_TAGS[net.cfg.sr],
        "f0": 1 if net.use_f0 else 0,
        "version": "v2",
    }
    torch.save(cpt, str(path))
