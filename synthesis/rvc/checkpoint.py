"""Reading and writing RVC model files: ``{"weight", "config", "f0", "version", "sr", "info"}`` saved by torch."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from synthesis.interfaces import EngineError
from synthesis.rvc.archive import check_archive
from synthesis.rvc.limits import SAMPLE_RATES_HZ, check_tensors, check_weights, expected_shapes, parse_config
from synthesis.rvc.synthesizer import Synthesizer

SAMPLE_RATE_TAGS = dict(zip(SAMPLE_RATES_HZ, ("32k", "40k", "48k"), strict=True))
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
    """Unpickle safely (tensors and plain containers only); any failure is ``EngineError('invalid_model')``.

    The zip layer is checked first (``check_archive``); a file is memory-mapped, so its tensors cost no copy.
    """
    size = check_archive(data)
    try:
        if isinstance(data, bytes):
            cpt = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        else:
            cpt = torch.load(str(data), map_location="cpu", weights_only=True, mmap=True)
    except FileNotFoundError:
        raise _model_error("the RVC model file is missing") from None
    except Exception as exc:  # torch's unpickler raises many types on hostile input; all mean "not a model"
        raise _model_error(f"not a readable RVC .pth file ({type(exc).__name__})") from None
    if not isinstance(cpt, dict) or not isinstance(cpt.get("config"), list | tuple):
        raise _model_error("not an RVC model: expected a dict with 'weight' and 'config'")
    cpt["weight"] = check_tensors(cpt.get("weight"), size)
    return cpt


def inference_dtype(device: str, checkpoint_dtype: torch.dtype) -> torch.dtype:
    """fp16 only on CUDA and only for fp16 checkpoints; CPU kernels are fp32 (half is slower there, or missing)."""
    if checkpoint_dtype == torch.float16 and torch.device(device).type == "cuda":
        return torch.float16
    return torch.float32


def build_synthesizer(cpt: dict[str, Any], *, device: str = "cpu",
                      dtype: torch.dtype | None = None) -> tuple[Synthesizer, RVCModelInfo]:
    """``dtype`` None picks ``inference_dtype(device, checkpoint dtype)``.

    The config and every weight's name, shape and dtype are checked against the v2 architecture before a module
    is built, so a file cannot make this allocate more than its own weights need.
    """
    version = str(cpt.get("version", "v1"))
    if version != "v2":
        raise _model_error(f"RVC {version} models are not supported; use a v2 model (768-d content features)")
    weights = {_renamed(k): v for k, v in cpt["weight"].items() if not k.startswith(_TRAINING_ONLY_PREFIX)}
    speakers = weights.get("emb_g.weight")
    if speakers is None or speakers.dim() != 2:
        raise _model_error("the RVC model has no speaker embedding (emb_g.weight)")
    config = list(cpt["config"])
    if config:
        # RVC stores the real speaker count in the weights; the config entry can be stale.
        config[-3] = int(speakers.shape[0])
    cfg = parse_config(config)
    f0 = cpt.get("f0", 1)
    if not isinstance(f0, int) or f0 not in (0, 1):
        raise _model_error("'f0' must be 0 or 1")
    use_f0 = bool(f0)
    check_weights(weights, expected_shapes(cfg, use_f0), _tensor_bytes(weights))
    with torch.device("meta"):
        net = Synthesizer(cfg, use_f0)
    stored = speakers.dtype
    net.load_state_dict({k: v.float() for k, v in weights.items()}, strict=True, assign=True)
    run_dtype = dtype or inference_dtype(device, stored)
    net.eval().to(device=device, dtype=run_dtype)
    info = RVCModelInfo(cfg.sr, use_f0, version, cfg.spk_embed_dim, str(stored).removeprefix("torch."),
                        device, str(run_dtype).removeprefix("torch."))
    return net, info


def _tensor_bytes(weights: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in weights.values())


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
