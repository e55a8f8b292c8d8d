"""The RVC v2 synthesizer (``SynthesizerTrnMs768NSFsid`` and its no-F0 variant), inference path only.

Module and parameter names follow RVC so its ``.pth`` state dicts load unchanged; ``enc_q`` (the posterior encoder)
is used only in training and is not built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthesis.rvc.layers import LRELU_SLOPE, AttentionEncoder, CouplingFlow, ResBlock1, ResBlock2, WNConv1d

CONTENT_DIM = 768
F0_MIN_HZ = 50.0
F0_MAX_HZ = 1100.0


@dataclass(slots=True, frozen=True)
class SynthConfig:
    """The 18-entry ``config`` list of an RVC checkpoint, named."""

    spec_channels: int
    segment_size: int
    inter_channels: int
    hidden_channels: int
    filter_channels: int
    n_heads: int
    n_layers: int
    kernel_size: int
    p_dropout: float
    resblock: str
    resblock_kernel_sizes: list[int]
    resblock_dilation_sizes: list[list[int]]
    upsample_rates: list[int]
    upsample_initial_channel: int
    upsample_kernel_sizes: list[int]
    spk_embed_dim: int
    gin_channels: int
    sr: int

    @classmethod
    def from_list(cls, values: list[Any]) -> SynthConfig:
        if len(values) != 18:
            raise ValueError(f"expected 18 config entries, got {len(values)}")
        v = list(values)
        return cls(int(v[0]), int(v[1]), int(v[2]), int(v[3]), int(v[4]), int(v[5]), int(v[6]), int(v[7]),
                   float(v[8]), str(v[9]), [int(k) for k in v[10]], [[int(d) for d in ds] for ds in v[11]],
                   [int(u) for u in v[12]], int(v[13]), [int(k) for k in v[14]], int(v[15]), int(v[16]), int(v[17]))

    def to_list(self) -> list[Any]:
        return [self.spec_channels, self.segment_size, self.inter_channels, self.hidden_channels,
                self.filter_channels, self.n_heads, self.n_layers, self.kernel_size, self.p_dropout, self.resblock,
                self.resblock_kernel_sizes, self.resblock_dilation_sizes, self.upsample_rates,
                self.upsample_initial_channel, self.upsample_kernel_sizes, self.spk_embed_dim, self.gin_channels,
                self.sr]

    @property
    def hop(self) -> int:
        """Output samples per feature frame."""
        return math.prod(self.upsample_rates)


class TextEncoder(nn.Module):
    """``enc_p``: content features (+ coarse pitch) → prior mean and log-scale."""

    def __init__(self, cfg: SynthConfig, use_f0: bool) -> None:
        super().__init__()
        self.hidden = cfg.hidden_channels
        self.out_channels = cfg.inter_channels
        self.emb_phone = nn.Linear(CONTENT_DIM, cfg.hidden_channels)
        self.emb_pitch = nn.Embedding(256, cfg.hidden_channels) if use_f0 else None
        self.encoder = AttentionEncoder(cfg.hidden_channels, cfg.filter_channels, cfg.n_heads, cfg.n_layers,
                                        cfg.kernel_size)
        self.proj = nn.Conv1d(cfg.hidden_channels, cfg.inter_channels * 2, 1)

    def forward(self, phone: Tensor, pitch: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        x = self.emb_phone(phone)
        if self.emb_pitch is not None and pitch is not None:
            x = x + self.emb_pitch(pitch)
        x = F.leaky_relu(x * math.sqrt(self.hidden), 0.1).transpose(1, 2)
        mask = torch.ones(x.shape[0], 1, x.shape[2], dtype=x.dtype, device=x.device)
        stats = self.proj(self.encoder(x, mask)) * mask
        m, logs = stats.split(self.out_channels, dim=1)
        return m, logs, mask


class HarmonicSource(nn.Module):
    """``m_source``: a sine at F0 (noise where unvoiced), merged by a 1→1 linear layer and tanh."""

    def __init__(self, sample_rate: int, sine_amp: float = 0.1, noise_std: float = 0.003) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.sine_amp = sine_amp
        self.noise_std = noise_std
        self.l_linear = nn.Linear(1, 1)

    def forward(self, f0: Tensor, upp: int) -> Tensor:
        """``f0``: ``[batch, frames]`` in Hz → ``[batch, 1, frames * upp]``."""
        f0_up = f0.float().repeat_interleave(upp, dim=1)
        phase = torch.cumsum(f0_up / self.sample_rate, dim=1) % 1.0
        phase = phase + torch.rand(f0.shape[0], 1, device=f0.device)
        uv = (f0_up > 0).float()
        sine = torch.sin(2 * math.pi * phase) * self.sine_amp
        noise_amp = uv * self.noise_std + (1 - uv) * self.sine_amp / 3
        wave = sine * uv + noise_amp * torch.randn_like(sine)
        merged = torch.tanh(self.l_linear(wave.unsqueeze(-1).to(self.l_linear.weight.dtype)))
        return merged.transpose(1, 2)


class Generator(nn.Module):
    """``dec``: HiFi-GAN generator, with the neural-source-filter excitation when the model uses F0."""

    def __init__(self, cfg: SynthConfig, use_f0: bool) -> None:
        super().__init__()
        self.num_kernels = len(cfg.resblock_kernel_sizes)
        self.upp = cfg.hop
        self.conv_pre = nn.Conv1d(cfg.inter_channels, cfg.upsample_initial_channel, 7, 1, padding=3)
        self.m_source = HarmonicSource(cfg.sr) if use_f0 else None
        self.ups = nn.ModuleList()
        self.noise_convs = nn.ModuleList()
        block = ResBlock1 if cfg.resblock == "1" else ResBlock2
        self.resblocks = nn.ModuleList()
        ch = cfg.upsample_initial_channel
        for i, (u, k) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes, strict=True)):
            ch = cfg.upsample_initial_channel // (2 ** (i + 1))
            self.ups.append(WNConv1d(ch * 2, ch, k, stride=u, padding=(k - u) // 2, transpose=True))
            if use_f0:
                if i + 1 < len(cfg.upsample_rates):
                    s = math.prod(cfg.upsample_rates[i + 1:])
                    self.noise_convs.append(nn.Conv1d(1, ch, kernel_size=s * 2, stride=s, padding=s // 2))
                else:
                    self.noise_convs.append(nn.Conv1d(1, ch, kernel_size=1))
            for rk, rd in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes, strict=True):
                self.resblocks.append(block(ch, rk, rd))
        self.conv_post = nn.Conv1d(ch, 1, 7, 1, padding=3, bias=False)
        self.cond = nn.Conv1d(cfg.gin_channels, cfg.upsample_initial_channel, 1)

    def forward(self, x: Tensor, f0: Tensor | None, g: Tensor) -> Tensor:
        source = self.m_source(f0, self.upp) if self.m_source is not None and f0 is not None else None
        x = self.conv_pre(x) + self.cond(g)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            if source is not None:
                x = x + self.noise_convs[i](source)
            xs = self.resblocks[i * self.num_kernels](x)
            for j in range(1, self.num_kernels):
                xs = xs + self.resblocks[i * self.num_kernels + j](x)
            x = xs / self.num_kernels
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


class Synthesizer(nn.Module):
    """Content features (100 frames/s) + pitch → waveform at ``cfg.sr``."""

    def __init__(self, cfg: SynthConfig, use_f0: bool) -> None:
        super().__init__()
        self.cfg = cfg
        self.use_f0 = use_f0
        self.enc_p = TextEncoder(cfg, use_f0)
        self.flow = CouplingFlow(cfg.inter_channels, cfg.hidden_channels, 5, 1, 3, cfg.gin_channels)
        self.dec = Generator(cfg, use_f0)
        self.emb_g = nn.Embedding(cfg.spk_embed_dim, cfg.gin_channels)

    @torch.inference_mode()
    def infer(self, phone: Tensor, pitch: Tensor | None, f0_hz: Tensor | None, speaker: int = 0,
              tail_frames: int | None = None, noise_scale: float = 0.66666) -> Tensor:
        """``phone`` ``[1, T, 768]``, ``pitch`` ``[1, T]`` coarse 1..255, ``f0_hz`` ``[1, T]``.

        Returns ``[T' * hop]`` samples where T' is ``tail_frames`` (only the last frames are decoded) or T.
        """
        sid = torch.tensor([speaker], device=phone.device)
        g = self.emb_g(sid).unsqueeze(-1)
        m, logs, mask = self.enc_p(phone, pitch if self.use_f0 else None)
        z_p = (m + torch.exp(logs) * torch.randn_like(m) * noise_scale) * mask
        z = self.flow.inverse(z_p, mask, g)
        if tail_frames is not None and tail_frames < z.shape[2]:
            z = z[:, :, -tail_frames:]
            if f0_hz is not None:
                f0_hz = f0_hz[:, -tail_frames:]
        audio: Tensor = self.dec(z, f0_hz if self.use_f0 else None, g)
        return audio[0, 0]
