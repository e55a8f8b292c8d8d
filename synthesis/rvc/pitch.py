"""F0 at 100 frames/s from 16 kHz audio (torchcrepe, parselmouth or pyworld) and RVC's coarse pitch bins."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from synthesis.interfaces import EngineError, Samples
from synthesis.rvc.synthesizer import F0_MAX_HZ, F0_MIN_HZ

F0Method = Literal["crepe", "pm", "harvest", "dio"]
F0_METHODS: tuple[str, ...] = ("crepe", "pm", "harvest", "dio")
F0_HOP_16K = 160
_SR = 16000
_MEL_MIN = 1127.0 * np.log(1 + F0_MIN_HZ / 700.0)
_MEL_MAX = 1127.0 * np.log(1 + F0_MAX_HZ / 700.0)
_CREPE_PERIODICITY_MIN = 0.1

F0 = npt.NDArray[np.float32]


def estimate_f0(audio_16k: Samples, method: F0Method, device: str = "cpu") -> F0:
    """One value per 10 ms (``len // 160 + 1`` frames), 0 where unvoiced. ``device`` is used by crepe only."""
    n_frames = len(audio_16k) // F0_HOP_16K + 1
    if method == "crepe":
        f0 = _crepe(audio_16k, device)
    elif method == "pm":
        f0 = _parselmouth(audio_16k, n_frames)
    elif method in ("harvest", "dio"):
        f0 = _world(audio_16k, method)
    else:
        raise EngineError("invalid_f0_method", f"unknown F0 method {method!r}")
    return _fit(f0, n_frames)


def _fit(f0: npt.NDArray[np.floating], n: int) -> F0:
    out = np.zeros(n, dtype=np.float32)
    m = min(n, len(f0))
    out[:m] = f0[:m]
    if m < n and m > 0:
        out[m:] = out[m - 1]
    return out


def _crepe(audio: Samples, device: str) -> npt.NDArray[np.floating]:
    import torch
    import torchcrepe

    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None]
    with torch.inference_mode():
        f0, periodicity = torchcrepe.predict(
            x, _SR, F0_HOP_16K, F0_MIN_HZ, F0_MAX_HZ, model="tiny", batch_size=512, device=device,
            decoder=torchcrepe.decode.weighted_argmax, return_periodicity=True, pad=True,
        )
    f: npt.NDArray[np.float32] = f0[0].float().cpu().numpy()
    f[periodicity[0].float().cpu().numpy() < _CREPE_PERIODICITY_MIN] = 0.0
    return f


def _parselmouth(audio: Samples, n_frames: int) -> npt.NDArray[np.floating]:
    import parselmouth

    snd = parselmouth.Sound(audio.astype(np.float64), _SR)
    pitch = snd.to_pitch_ac(time_step=F0_HOP_16K / _SR, voicing_threshold=0.6, pitch_floor=F0_MIN_HZ,
                            pitch_ceiling=F0_MAX_HZ)
    values = pitch.selected_array["frequency"]
    # Praat's first frame is centred half a window in; pad to align frame k with time k * 10 ms.
    pad = max(0, (n_frames - len(values) + 1) // 2)
    return np.pad(values, (pad, max(0, n_frames - len(values) - pad)))


def _world(audio: Samples, method: str) -> npt.NDArray[np.floating]:
    import pyworld

    x = audio.astype(np.float64)
    fn = pyworld.harvest if method == "harvest" else pyworld.dio
    f0, t = fn(x, _SR, f0_floor=F0_MIN_HZ, f0_ceil=F0_MAX_HZ, frame_period=10.0)
    if method == "dio":
        f0 = pyworld.stonemask(x, f0, t, _SR)
    return np.asarray(f0)


def shift_f0(f0: F0, semitones: float) -> F0:
    return (f0 * np.float32(2.0 ** (semitones / 12.0))).astype(np.float32)


def coarse_pitch(f0: F0) -> npt.NDArray[np.int64]:
    """RVC's 1..255 mel-scale bins (1 = unvoiced)."""
    mel: npt.NDArray[np.float64] = 1127.0 * np.log(1 + f0.astype(np.float64) / 700.0)
    voiced = mel > 0
    mel[voiced] = (mel[voiced] - _MEL_MIN) * 254 / (_MEL_MAX - _MEL_MIN) + 1
    bins: npt.NDArray[np.int64] = np.rint(np.clip(mel, 1, 255)).astype(np.int64)
    return bins
