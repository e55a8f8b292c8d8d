"""What an RVC v2 checkpoint may claim, checked before anything is allocated for it.

The ranges hold the real v2 configurations (32k/40k/48k: 192 inter/hidden channels, 768 filter channels, 2 heads,
6 layers, resblock kernels 3/7/11, 512 initial upsample channels, 256 gin channels, 109 speakers) with head room
for forks and the tiny test models, and nothing near what would need gigabytes.
"""

from __future__ import annotations

import math

import torch

from synthesis.interfaces import EngineError
from synthesis.rvc.synthesizer import SynthConfig, Synthesizer

SAMPLE_RATES_HZ = (32000, 40000, 48000)
CONTENT_FRAMES_PER_S = 100
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
_MAX_WEIGHTS = 4096
# name: (index in the config list, min, max)
_INTS = {
    "spec_channels": (0, 1, 4097),
    "segment_size": (1, 1, 100_000),
    "inter_channels": (2, 2, 384),
    "hidden_channels": (3, 2, 384),
    "filter_channels": (4, 1, 1536),
    "n_heads": (5, 1, 8),
    "n_layers": (6, 1, 12),
    "kernel_size": (7, 1, 9),
    "upsample_initial_channel": (13, 16, 1024),
    "spk_embed_dim": (15, 1, 1024),
    "gin_channels": (16, 1, 512),
    "sr": (17, 1, 48000),
}
_MAX_RESBLOCK_KERNELS = 4
_MAX_RESBLOCK_KERNEL = 15
_MAX_DILATIONS = 5
_MAX_DILATION = 9
_MAX_UPSAMPLE_LAYERS = 5
_MAX_UPSAMPLE_RATE = 16


def _error(message: str) -> EngineError:
    return EngineError("invalid_model", f"invalid RVC config: {message}")


def _int(value: object, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error(f"{name} must be an integer")
    if not lo <= value <= hi:
        raise _error(f"{name} {value} is outside {lo}..{hi}")
    return value


def _int_list(value: object, name: str, count: tuple[int, int], lo: int, hi: int) -> list[int]:
    if not isinstance(value, list | tuple):
        raise _error(f"{name} must be a list")
    if not count[0] <= len(value) <= count[1]:
        raise _error(f"{name} must have {count[0]}..{count[1]} entries")
    return [_int(v, name, lo, hi) for v in value]


def parse_config(values: object) -> SynthConfig:
    """The 18-entry ``config`` list, every entry type- and range-checked; ``EngineError('invalid_model')`` if not."""
    if not isinstance(values, list | tuple) or len(values) != 18:
        raise _error("expected a list of 18 entries")
    n = {name: _int(values[i], name, lo, hi) for name, (i, lo, hi) in _INTS.items()}
    if n["sr"] not in SAMPLE_RATES_HZ:
        raise EngineError("invalid_model", f"unsupported RVC sample rate {n['sr']} (32000, 40000 or 48000)")
    dropout = values[8]
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout <= 1:
        raise _error("p_dropout must be a number in 0..1")
    resblock = values[9]
    if resblock not in ("1", "2"):
        raise _error("resblock must be '1' or '2'")
    kernels = _int_list(values[10], "resblock_kernel_sizes", (1, _MAX_RESBLOCK_KERNELS), 1, _MAX_RESBLOCK_KERNEL)
    dilations_raw = values[11]
    if not isinstance(dilations_raw, list | tuple) or len(dilations_raw) != len(kernels):
        raise _error("resblock_dilation_sizes must have one list per resblock kernel")
    dilations = [_int_list(d, "resblock_dilation_sizes", (2 if resblock == "2" else 1, _MAX_DILATIONS), 1,
                           _MAX_DILATION) for d in dilations_raw]
    rates = _int_list(values[12], "upsample_rates", (1, _MAX_UPSAMPLE_LAYERS), 1, _MAX_UPSAMPLE_RATE)
    up_kernels = _int_list(values[14], "upsample_kernel_sizes", (len(rates), len(rates)), 1, 3 * _MAX_UPSAMPLE_RATE)
    if any(not u <= k <= 3 * u for u, k in zip(rates, up_kernels, strict=True)):
        raise _error("each upsample kernel must be 1 to 3 times its rate")
    if math.prod(rates) * CONTENT_FRAMES_PER_S != n["sr"]:
        raise _error(f"the upsample rates multiply to {math.prod(rates)}, not sr / {CONTENT_FRAMES_PER_S}")
    if n["upsample_initial_channel"] % (2 ** len(rates)):
        raise _error("upsample_initial_channel must be divisible by 2 per upsample layer")
    if n["hidden_channels"] % n["n_heads"] or n["inter_channels"] % 2:
        raise _error("hidden_channels must be divisible by n_heads and inter_channels even")
    return SynthConfig(
        n["spec_channels"], n["segment_size"], n["inter_channels"], n["hidden_channels"], n["filter_channels"],
        n["n_heads"], n["n_layers"], n["kernel_size"], float(dropout), resblock, kernels, dilations, rates,
        n["upsample_initial_channel"], up_kernels, n["spk_embed_dim"], n["gin_channels"], n["sr"],
    )


def expected_shapes(cfg: SynthConfig, use_f0: bool) -> dict[str, tuple[int, ...]]:
    """Every parameter the architecture of ``cfg`` has, with its shape; built on the meta device (no memory)."""
    with torch.device("meta"):
        net = Synthesizer(cfg, use_f0)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _names(keys: set[str]) -> str:
    listed = sorted(keys)
    return ", ".join(listed[:3]) + (f" and {len(listed) - 3} more" if len(listed) > 3 else "")


def check_weights(weights: dict[str, torch.Tensor], expected: dict[str, tuple[int, ...]], stored_bytes: int) -> None:
    """Names, shapes, dtypes and sizes of ``weights`` against the architecture, before any is copied or cast.

    ``stored_bytes``: what the weights occupy in the file (``check_tensors`` bounds it by the file size).
    """
    mismatch = "RVC weights do not match the v2 architecture"
    need = sum(math.prod(s) for s in expected.values()) * 2  # fp16, the smallest dtype RVC stores
    if need > stored_bytes:
        raise EngineError("invalid_model", f"{mismatch}: the config needs {need} bytes of weights; the file holds "
                          f"{stored_bytes}")
    missing = set(expected) - set(weights)
    unexpected = set(weights) - set(expected)
    if missing or unexpected:
        parts = ([f"missing {_names(missing)}"] if missing else []) + (
            [f"unexpected {_names(unexpected)}"] if unexpected else [])
        raise EngineError("invalid_model", f"{mismatch}: {'; '.join(parts)}")
    for name, shape in expected.items():
        tensor = weights[name]
        if tuple(tensor.shape) != shape:
            raise EngineError("invalid_model", f"{mismatch}: {name} has shape {tuple(tensor.shape)}, "
                              f"expected {shape}")
        if tensor.dtype not in _FLOAT_DTYPES:
            raise EngineError("invalid_model", f"{mismatch}: {name} is {tensor.dtype}, not a float tensor")


def check_tensors(weights: object, file_bytes: int) -> dict[str, torch.Tensor]:
    """``weights`` is a dict of name → tensor whose data fits in the file (no shared or broadcast storage tricks)."""
    if not isinstance(weights, dict) or not 0 < len(weights) <= _MAX_WEIGHTS:
        raise EngineError("invalid_model", "not an RVC model: 'weight' must be a dict of tensors")
    total = 0
    for name, tensor in weights.items():
        if not isinstance(name, str) or not isinstance(tensor, torch.Tensor):
            raise EngineError("invalid_model", "not an RVC model: 'weight' must map names to tensors")
        total += tensor.numel() * tensor.element_size()
        if total > file_bytes:
            raise EngineError("invalid_model", "the weights claim more data than the file holds")
    return weights
