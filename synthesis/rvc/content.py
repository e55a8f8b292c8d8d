"""Content features from a HuBERT / ContentVec model in HuggingFace format (``config.json`` + weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from synthesis.interfaces import EngineError, Samples

CONTENT_SAMPLE_RATE_HZ = 16000
CONTENT_HOP = 320  # 50 frames per second at 16 kHz
RVC_V2_LAYER = 12


class ContentEncoder:
    """Waveform at 16 kHz → ``[1, frames, 768]`` hidden states of transformer layer 12 (or the last one)."""

    def __init__(self, model_dir: Path, *, device: str = "cpu", layer: int = RVC_V2_LAYER,
                 half: bool | None = None) -> None:
        """``half`` None: fp16 on CUDA (as RVC runs HuBERT there), fp32 on CPU."""
        self.model_dir = model_dir
        self.device = device
        self.layer = layer
        self.dtype = torch.float16 if (torch.device(device).type == "cuda" if half is None else half) \
            else torch.float32
        self._model: torch.nn.Module | None = None

    def load(self) -> None:
        from transformers import HubertModel
        from transformers.utils import logging as hf_logging

        if not (self.model_dir / "config.json").is_file():
            raise EngineError("content_encoder_missing",
                              f"no content encoder at {self.model_dir} (run `duble models pull rvc-base` or "
                              "`duble models tiny rvc`)")
        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        model = HubertModel.from_pretrained(str(self.model_dir), local_files_only=True)
        model.eval()
        model.to(device=self.device, dtype=self.dtype)
        layers = model.config.num_hidden_layers
        self.layer = min(self.layer, layers)
        if model.config.hidden_size != 768:
            raise EngineError("content_encoder_invalid", "the content encoder must produce 768-d features (RVC v2)")
        self._model = model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @torch.inference_mode()
    def extract(self, audio_16k: Samples) -> Tensor:
        if self._model is None:
            self.load()
        assert self._model is not None
        x = torch.from_numpy(np.ascontiguousarray(audio_16k, dtype=np.float32)).to(self.device, self.dtype)[None]
        out = self._model(x, output_hidden_states=True)
        feats: Tensor = out.hidden_states[self.layer]
        return feats


def write_tiny_content_encoder(out_dir: Path, *, seed: int = 0) -> Path:
    """A small random HuBERT with the real front end (stride 320) and 768-d output, for offline tests."""
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(seed)
    cfg = HubertConfig(  # type: ignore[no-untyped-call]
        hidden_size=768, num_hidden_layers=1, num_attention_heads=4, intermediate_size=256,
        conv_dim=(32, 32, 32, 32, 32, 32, 32), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=16,
        feat_extract_norm="group", do_stable_layer_norm=False, mask_time_prob=0.0,
    )
    model = HubertModel(cfg)
    model.eval()  # type: ignore[no-untyped-call]
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    return out_dir
