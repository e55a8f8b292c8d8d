"""A tiny RVC v2 model in the real file format (random weights) plus a tiny content encoder, for offline tests.

``write_tiny_rvc(DIR)`` writes ``DIR/voice.pth``, ``DIR/voice.index`` and ``DIR/content/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from synthesis.rvc.checkpoint import save_rvc_model
from synthesis.rvc.content import write_tiny_content_encoder
from synthesis.rvc.index import write_index
from synthesis.rvc.layers import WNConv1d
from synthesis.rvc.synthesizer import SynthConfig, Synthesizer

# Upsampling layouts of the real v2 configurations (product = hop = sr / 100).
_UPSAMPLING = {
    32000: ([10, 8, 2, 2], [20, 16, 4, 4], 513),
    40000: ([10, 10, 2, 2], [16, 16, 4, 4], 1025),
    48000: ([12, 10, 2, 2], [24, 20, 4, 4], 1025),
}


@dataclass(slots=True, frozen=True)
class TinyRVC:
    model_path: Path
    index_path: Path
    content_dir: Path


def tiny_config(sample_rate_hz: int = 40000) -> SynthConfig:
    rates, kernels, spec = _UPSAMPLING[sample_rate_hz]
    return SynthConfig(
        spec_channels=spec, segment_size=32, inter_channels=16, hidden_channels=32, filter_channels=64, n_heads=2,
        n_layers=2, kernel_size=3, p_dropout=0.0, resblock="1", resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3, 5]], upsample_rates=rates, upsample_initial_channel=64,
        upsample_kernel_sizes=kernels, spk_embed_dim=1, gin_channels=32, sr=sample_rate_hz,
    )


def _favour_excitation(net: Synthesizer) -> None:
    # Random weights turn any input into a buzz at the 100 Hz frame rate. Near-identity residual blocks, a weak
    # content path and the harmonic source fed straight to the last stage make the output's pitch follow the F0
    # given (so tests can measure a pitch shift) while every layer still runs.
    with torch.no_grad():
        for up in net.dec.ups:
            assert isinstance(up, WNConv1d)
            up.weight_g.mul_(0.01)
        for block in net.dec.resblocks:
            for name, param in block.named_parameters():
                if name.endswith("weight_g"):
                    param.mul_(0.01)
        noise_convs = [conv for conv in net.dec.noise_convs if isinstance(conv, nn.Conv1d)]
        for conv in noise_convs:
            conv.weight.mul_(0.1)
        if noise_convs:
            noise_convs[-1].weight.copy_(torch.sign(noise_convs[-1].weight) * 2.0)
        # Zero DC gain in the last filter, or the output sits on a large offset.
        post = net.dec.conv_post.weight
        post.sub_(post.mean(dim=-1, keepdim=True)).mul_(50.0)


def write_tiny_rvc(out_dir: Path, *, sample_rate_hz: int = 40000, use_f0: bool = True, half: bool = True,
                   seed: int = 0, content: bool = True) -> TinyRVC:
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    net = Synthesizer(tiny_config(sample_rate_hz), use_f0)
    if use_f0:
        _favour_excitation(net)
    model_path = out_dir / "voice.pth"
    save_rvc_model(net, model_path, half=half, info="duble tiny test model (random weights)")
    rng = np.random.default_rng(seed)
    index_path = out_dir / "voice.index"
    write_index(rng.standard_normal((256, 768)).astype(np.float32), index_path)
    content_dir = out_dir / "content"
    if content:
        write_tiny_content_encoder(content_dir, seed=seed)
    return TinyRVC(model_path, index_path, content_dir)
