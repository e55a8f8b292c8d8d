"""One RVC conversion step over a window of audio: content features, F0, index blend, protect, synthesis."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from scipy.signal import resample_poly

from synthesis.interfaces import EngineError, Samples
from synthesis.rvc.checkpoint import RVCModelInfo, load_rvc_model
from synthesis.rvc.content import CONTENT_SAMPLE_RATE_HZ, ContentEncoder
from synthesis.rvc.index import FeatureIndex
from synthesis.rvc.pitch import F0_HOP_16K, F0Method, coarse_pitch, estimate_f0, shift_f0
from synthesis.rvc.synthesizer import Synthesizer

# Frames decoded left of the requested tail so the generator's edge effects fall outside it.
DECODE_MARGIN_FRAMES = 6
# Audio (in 10 ms frames) left of the re-estimated F0 frames; crepe needs 512 samples each side of a frame.
_F0_LOOKBACK_FRAMES = {"crepe": 4}
_DEFAULT_LOOKBACK_FRAMES = 8


@dataclass(slots=True, frozen=True)
class RVCParams:
    pitch_shift: float = 0.0
    index_rate: float = 0.5
    protect: float = 0.33
    f0_method: F0Method = "crepe"
    speaker: int = 0

    def __post_init__(self) -> None:
        if not -24 <= self.pitch_shift <= 24:
            raise EngineError("invalid_pitch_shift", "pitch_shift must be within -24..24 semitones")
        if not 0 <= self.index_rate <= 1 or not 0 <= self.protect <= 0.5:
            raise EngineError("invalid_params", "index_rate must be in 0..1 and protect in 0..0.5")


class RVCModel:
    """A loaded RVC voice: synthesizer (+ optional index). Shared read-only by every stream of that voice."""

    def __init__(self, net: Synthesizer, info: RVCModelInfo, index: FeatureIndex | None) -> None:
        self.net = net
        self.info = info
        self.index = index

    @classmethod
    def load(cls, model_path: Path, index_path: Path | None = None, *, device: str = "cpu",
             dtype: torch.dtype | None = None) -> RVCModel:
        """On ``device``; ``dtype`` None: fp16 on CUDA for fp16 files, else fp32 (``inference_dtype``)."""
        net, info = load_rvc_model(model_path, device=device, dtype=dtype)
        index = FeatureIndex.load(index_path) if index_path is not None and index_path.exists() else None
        return cls(net, info, index)

    @property
    def device(self) -> torch.device:
        return self.net.emb_g.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.net.emb_g.weight.dtype

    @property
    def sample_rate_hz(self) -> int:
        return self.info.sample_rate_hz

    @property
    def hop(self) -> int:
        return self.net.cfg.hop


def to_16k(audio: Samples, sr: int) -> Samples:
    if sr == CONTENT_SAMPLE_RATE_HZ:
        return audio.astype(np.float32, copy=False)
    g = math.gcd(sr, CONTENT_SAMPLE_RATE_HZ)
    out: Samples = resample_poly(audio, CONTENT_SAMPLE_RATE_HZ // g, sr // g).astype(np.float32)
    return out


class F0Cache:
    """F0 per 10 ms frame of the current window; each step estimates only the frames the new audio touches."""

    def __init__(self, method: F0Method, device: str = "cpu") -> None:
        self.method = method
        self.device = device
        self._f0: npt.NDArray[np.float32] | None = None

    def update(self, window_16k: Samples, new_16k: int) -> npt.NDArray[np.float32]:
        n = len(window_16k) // F0_HOP_16K + 1
        shift = new_16k // F0_HOP_16K
        lookback = _F0_LOOKBACK_FRAMES.get(self.method, _DEFAULT_LOOKBACK_FRAMES)
        if self._f0 is None or len(self._f0) != n or new_16k % F0_HOP_16K or shift + lookback + 2 >= n:
            self._f0 = estimate_f0(window_16k, self.method, self.device)
            return self._f0
        fresh = shift + 2  # the previous window's last frames were estimated against its zero-padded edge
        start = n - fresh - lookback
        seg = estimate_f0(window_16k[start * F0_HOP_16K:], self.method, self.device)
        f0 = np.empty(n, dtype=np.float32)
        f0[: n - shift] = self._f0[shift:]
        f0[n - fresh:] = seg[-fresh:]
        self._f0 = f0
        return f0


def convert_window(model: RVCModel, content: ContentEncoder, params: RVCParams, f0_cache: F0Cache | None,
                   window: Samples, new_samples: int, tail_samples: int) -> Samples:
    """Convert ``window`` (mono, model rate) and return its last ``tail_samples`` samples of converted audio.

    ``new_samples`` is how much of the window is new since the previous call (for the F0 cache).
    """
    sr, hop = model.sample_rate_hz, model.hop
    x16 = to_16k(window, sr)
    feats = content.extract(x16)  # [1, T50, 768]
    feats = torch.cat([feats, feats[:, -1:]], dim=1)
    tail_frames = min(math.ceil(tail_samples / hop) + DECODE_MARGIN_FRAMES, 2 * feats.shape[1])
    raw = feats
    if model.index is not None and params.index_rate > 0:
        k = min(feats.shape[1], math.ceil(tail_frames / 2) + 1)
        blended = model.index.blend(feats[0, -k:].float().cpu().numpy(), params.index_rate)
        feats = feats.clone()
        feats[0, -k:] = torch.from_numpy(blended).to(feats.device, feats.dtype)
    feats = F.interpolate(feats.transpose(1, 2), scale_factor=2.0).transpose(1, 2)
    raw = F.interpolate(raw.transpose(1, 2), scale_factor=2.0).transpose(1, 2)
    pitch_t: torch.Tensor | None = None
    f0_t: torch.Tensor | None = None
    if model.info.use_f0:
        new_16k = round(new_samples * CONTENT_SAMPLE_RATE_HZ / sr)
        f0 = f0_cache.update(x16, new_16k) if f0_cache is not None else estimate_f0(
            x16, params.f0_method, str(model.device))
        p_len = min(feats.shape[1], len(f0))
        f0 = shift_f0(f0[:p_len], params.pitch_shift)
        feats, raw = feats[:, :p_len], raw[:, :p_len]
        if params.protect < 0.5 and model.index is not None:
            w = torch.from_numpy(np.where(f0 > 0, 1.0, params.protect).astype(np.float32))[None, :, None]
            feats = feats * w.to(feats.device, feats.dtype) + raw * (1 - w.to(raw.device, raw.dtype))
        pitch_t = torch.from_numpy(coarse_pitch(f0.copy()))[None].to(model.device)
        f0_t = torch.from_numpy(f0)[None].to(model.device)
    tail_frames = min(tail_frames, feats.shape[1])
    phone = feats.to(model.device, model.dtype)
    out = model.net.infer(phone, pitch_t, f0_t, params.speaker, tail_frames=tail_frames)
    audio = out.float().cpu().numpy()
    if len(audio) < tail_samples:
        audio = np.concatenate([np.zeros(tail_samples - len(audio), dtype=np.float32), audio])
    return np.ascontiguousarray(audio[-tail_samples:], dtype=np.float32)
