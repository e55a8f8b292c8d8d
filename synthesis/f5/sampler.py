"""CFM sampling for one or several text batches at once (blocking; always called on the device worker's thread).

Several batches (from different sessions, voices and texts) are sampled in one padded ``CFM.sample`` call when they
share a model set and sampler settings; each result is then vocoded on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from synthesis.f5.models import LoadedModelSet
from synthesis.f5.text import utf8_len
from synthesis.interfaces import Samples

SAMPLE_RATE_HZ = 24000
HOP_LENGTH = 256
TARGET_RMS = 0.1
# Upstream slows down text under 10 bytes (the model needs some length to place any speech); we floor the
# estimate at this many bytes instead, so short batches keep the voice's pace.
MIN_TEXT_BYTES = 10


@dataclass(slots=True, frozen=True)
class SamplerSettings:
    nfe_steps: int = 16
    cfg_strength: float = 2.0
    sway_sampling_coef: float = -1.0


@dataclass(slots=True)
class PreparedReference:
    """A voice's reference as the model wants it: mel frames on the device, the gain applied, text with a tail."""

    mel: Any  # torch.Tensor [frames, n_mels] in the model dtype
    text: str
    rms: float

    @property
    def frames(self) -> int:
        return int(self.mel.shape[0])


@dataclass(slots=True, frozen=True)
class BatchJob:
    reference: PreparedReference
    text: str
    speed: float = 1.0


def reference_text_tail(text: str) -> str:
    """Reference text ending in sentence punctuation and a space, so the generated text starts a new sentence."""
    clean = " ".join(text.split())
    if clean and clean[-1] not in ".!?。！？":
        clean += "."
    return clean + " "


def prepare_reference(models: LoadedModelSet, samples: Samples, sample_rate_hz: int, text: str) -> PreparedReference:
    import torch

    audio = np.asarray(samples, dtype=np.float32)
    if sample_rate_hz != SAMPLE_RATE_HZ:
        from scipy.signal import resample_poly

        g = np.gcd(sample_rate_hz, SAMPLE_RATE_HZ)
        audio = resample_poly(audio, SAMPLE_RATE_HZ // g, sample_rate_hz // g).astype(np.float32)
    rms = float(np.sqrt(np.mean(np.square(audio)))) if len(audio) else 0.0
    if 0.0 < rms < TARGET_RMS:
        audio = audio * (TARGET_RMS / rms)
    model = models.model
    dtype = next(model.parameters()).dtype
    with torch.inference_mode():
        wave = torch.from_numpy(audio).to(models.device).unsqueeze(0)
        mel = model.mel_spec(wave).permute(0, 2, 1)[0].to(dtype)
    return PreparedReference(mel=mel, text=reference_text_tail(text), rms=rms)


def _duration_frames(job: BatchJob) -> int:
    ref = job.reference
    per_byte = ref.frames / max(1, utf8_len(ref.text))
    gen_bytes = max(MIN_TEXT_BYTES, utf8_len(job.text))
    return ref.frames + max(1, int(per_byte * gen_bytes / job.speed))


def generate(models: LoadedModelSet, settings: SamplerSettings, jobs: list[BatchJob]) -> list[Samples]:
    """Sample all ``jobs`` in one CFM call and vocode each; returns mono float32 24 kHz audio per job, in order."""
    import torch
    from f5_tts.model.utils import convert_char_to_pinyin
    from torch.nn.utils.rnn import pad_sequence

    model, vocoder = models.model, models.vocoder
    device = models.device
    texts = convert_char_to_pinyin([job.reference.text + job.text for job in jobs])
    lens = torch.tensor([job.reference.frames for job in jobs], device=device, dtype=torch.long)
    # CFM.sample stretches a duration shorter than the text or the reference; do it here to know where audio ends.
    frames = [max(_duration_frames(job), len(t) + 1, job.reference.frames + 1)
              for job, t in zip(jobs, texts, strict=True)]
    durations = torch.tensor(frames, device=device, dtype=torch.long)
    cond = pad_sequence([job.reference.mel for job in jobs], batch_first=True)
    with torch.inference_mode():
        mel, _ = model.sample(
            cond=cond, text=texts, duration=durations, lens=lens, steps=settings.nfe_steps,
            cfg_strength=settings.cfg_strength, sway_sampling_coef=settings.sway_sampling_coef,
        )
        out: list[Samples] = []
        for i, job in enumerate(jobs):
            start, end = int(lens[i]), int(durations[i])
            gen = mel[i : i + 1, start:end, :].to(torch.float32).permute(0, 2, 1)
            wave = vocoder.decode(gen).squeeze(0).cpu().numpy().astype(np.float32)
            if 0.0 < job.reference.rms < TARGET_RMS:
                wave = wave * (job.reference.rms / TARGET_RMS)
            out.append(np.clip(wave, -1.0, 1.0).astype(np.float32))
    return out


def shift_pitch(samples: Samples, semitones: float) -> Samples:
    if abs(semitones) < 1e-3 or len(samples) < 2048:
        return samples
    import librosa

    shifted = librosa.effects.pitch_shift(samples, sr=SAMPLE_RATE_HZ, n_steps=semitones)
    return np.asarray(shifted, dtype=np.float32)
