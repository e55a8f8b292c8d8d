"""A tiny F5 model set with random weights in the real on-disk formats, for tests and benchmarks on any machine.

It is built from the real classes (f5-tts ``DiT`` inside ``CFM``; Vocos feature extractor / backbone / ISTFT head),
so the real loaders, sampler and vocoder run end to end. The audio it makes is noise.
"""

from __future__ import annotations

import json
import string
import warnings
from pathlib import Path
from typing import Any, Literal

from synthesis.f5.models import MANIFEST

TINY_ARCH: dict[str, Any] = {
    "dim": 64, "depth": 2, "heads": 2, "dim_head": 32, "ff_mult": 2, "text_dim": 32, "text_mask_padding": True,
    "qk_norm": None, "conv_layers": 1, "pe_attn_head": None, "attn_backend": "torch", "attn_mask_enabled": False,
    "checkpoint_activations": False,
}
_VOCOS_CONFIG: dict[str, Any] = {
    "feature_extractor": {
        "class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
        "init_args": {"sample_rate": 24000, "n_fft": 1024, "hop_length": 256, "n_mels": 100, "padding": "center"},
    },
    "backbone": {
        "class_path": "vocos.models.VocosBackbone",
        "init_args": {"input_channels": 100, "dim": 64, "intermediate_dim": 128, "num_layers": 2},
    },
    "head": {
        "class_path": "vocos.heads.ISTFTHead",
        "init_args": {"dim": 64, "n_fft": 1024, "hop_length": 256, "padding": "same"},
    },
}
_EXTRA_CHARS = "áàâãäéèêëíìîïóòôõöúùûüçñÁÀÂÃÉÊÍÓÔÕÚÇÑ¿¡«»—–…"


def tiny_vocab() -> list[str]:
    """Space first (index 0 is also "unknown" in f5-tts), then letters, digits, punctuation, accented letters."""
    chars = [" "] + list(string.ascii_letters + string.digits + string.punctuation) + list(_EXTRA_CHARS)
    return list(dict.fromkeys(chars))


def _tiny_cfm(vocab: list[str], seed: int) -> Any:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from f5_tts.model import CFM, DiT

    torch.manual_seed(seed)
    model = CFM(
        transformer=DiT(**TINY_ARCH, text_num_embeds=len(vocab), mel_dim=100),
        mel_spec_kwargs={"n_fft": 1024, "hop_length": 256, "win_length": 1024, "n_mel_channels": 100,
                         "target_sample_rate": 24000, "mel_spec_type": "vocos"},
        vocab_char_map={c: i for i, c in enumerate(vocab)},
    )
    # DiT zero-initializes its output layers; perturb everything so the flow is not identically zero.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return model


def _tiny_vocos(seed: int) -> Any:
    import torch
    from vocos.feature_extractors import MelSpectrogramFeatures
    from vocos.heads import ISTFTHead
    from vocos.models import VocosBackbone
    from vocos.pretrained import Vocos

    torch.manual_seed(seed + 1)
    vocos = Vocos(
        MelSpectrogramFeatures(**_VOCOS_CONFIG["feature_extractor"]["init_args"]),
        VocosBackbone(**_VOCOS_CONFIG["backbone"]["init_args"]),
        ISTFTHead(**_VOCOS_CONFIG["head"]["init_args"]),
    )
    head = vocos.head.out
    with torch.no_grad():
        # Sets the magnitude of every STFT bin, hence the output level: about 0.06 RMS, speech-like loudness.
        head.weight.mul_(0.01)
        half = head.bias.shape[0] // 2
        head.bias[:half] = 3.5
    return vocos


def write_tiny_f5(out_dir: Path, *, fmt: Literal["safetensors", "pt"] = "safetensors", seed: int = 0) -> Path:
    """Write ``f5.json``, the checkpoint, ``vocab.txt`` and ``vocos/`` under ``out_dir``; returns ``out_dir``."""
    import torch
    import yaml

    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = tiny_vocab()
    (out_dir / "vocab.txt").write_text("".join(f"{c}\n" for c in vocab), encoding="utf-8")

    state = {f"ema_model.{k}": v.detach().clone().contiguous()
             for k, v in _tiny_cfm(vocab, seed).state_dict().items()}
    if fmt == "safetensors":
        from safetensors.torch import save_file

        checkpoint = "model.safetensors"
        save_file(state, str(out_dir / checkpoint))
    else:
        checkpoint = "model.pt"
        ema = {"initted": torch.tensor(True), "step": torch.tensor(0), **state}
        torch.save({"ema_model_state_dict": ema}, out_dir / checkpoint)

    vocos_dir = out_dir / "vocos"
    vocos_dir.mkdir(exist_ok=True)
    (vocos_dir / "config.yaml").write_text(yaml.safe_dump(_VOCOS_CONFIG, sort_keys=False), encoding="utf-8")
    torch.save(_tiny_vocos(seed).state_dict(), vocos_dir / "pytorch_model.bin")

    manifest = {"arch": TINY_ARCH, "checkpoint": checkpoint, "vocab": "vocab.txt", "vocoder": "vocos",
                "licence": "random weights, generated locally (test only)"}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return out_dir
