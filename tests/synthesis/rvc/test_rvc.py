"""RVC v2 inference on a tiny real-format model: loader, key names, F0, index, and the live block loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import parselmouth
import pytest
import torch

from synthesis.interfaces import Converter, EngineError
from synthesis.rvc.checkpoint import inference_dtype, load_rvc_model, read_checkpoint
from synthesis.rvc.content import ContentEncoder
from synthesis.rvc.converter import RVCBlockSettings, RVCConverter
from synthesis.rvc.inference import RVCModel, RVCParams
from synthesis.rvc.pitch import coarse_pitch, estimate_f0
from synthesis.rvc.tiny import TinyRVC, write_tiny_rvc

# Names as they appear in real RVC v2 exports (SynthesizerTrnMs768NSFsid without enc_q).
REAL_KEYS = [
    "enc_p.emb_phone.weight", "enc_p.emb_pitch.weight", "enc_p.encoder.attn_layers.0.conv_q.weight",
    "enc_p.encoder.attn_layers.0.emb_rel_k", "enc_p.encoder.norm_layers_1.0.gamma",
    "enc_p.encoder.ffn_layers.1.conv_2.bias", "enc_p.proj.weight", "dec.conv_pre.weight", "dec.ups.0.weight_g",
    "dec.ups.3.weight_v", "dec.noise_convs.0.weight", "dec.resblocks.0.convs1.2.weight_v",
    "dec.m_source.l_linear.weight", "dec.conv_post.weight", "dec.cond.weight", "flow.flows.0.pre.weight",
    "flow.flows.6.enc.in_layers.2.weight_g", "flow.flows.2.enc.cond_layer.weight_v",
    "flow.flows.4.enc.res_skip_layers.2.bias", "flow.flows.0.post.weight", "emb_g.weight",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyRVC:
    return write_tiny_rvc(tmp_path_factory.mktemp("rvc"))


@pytest.fixture(scope="module")
def content(tiny: TinyRVC) -> ContentEncoder:
    enc = ContentEncoder(tiny.content_dir)
    enc.load()
    return enc


def _tone(freq: float, seconds: float, rate: int) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def _median_f0(x: np.ndarray, rate: int) -> float:
    f = parselmouth.Sound(x.astype(np.float64), rate).to_pitch().selected_array["frequency"]
    return float(np.median(f[f > 0]))


def test_file_format_and_key_names(tiny: TinyRVC) -> None:
    cpt = read_checkpoint(tiny.model_path)
    assert set(cpt) >= {"weight", "config", "f0", "version", "sr"}
    assert cpt["version"] == "v2" and cpt["sr"] == "40k" and cpt["f0"] == 1 and len(cpt["config"]) == 18
    assert all(v.dtype == torch.float16 for v in cpt["weight"].values())
    assert not any(k.startswith("enc_q.") for k in cpt["weight"])
    missing = [k for k in REAL_KEYS if k not in cpt["weight"]]
    assert not missing


@pytest.mark.parametrize(("rate", "f0", "half"), [(32000, True, False), (48000, True, True), (40000, False, True)])
def test_variants_load_and_run(tmp_path: Path, content: ContentEncoder, rate: int, f0: bool, half: bool) -> None:
    t = write_tiny_rvc(tmp_path, sample_rate_hz=rate, use_f0=f0, half=half, content=False)
    model = RVCModel.load(t.model_path)
    assert model.sample_rate_hz == rate and model.info.use_f0 is f0 and model.hop == rate // 100
    conv = RVCConverter(model, content, RVCParams(f0_method="pm"))
    x = _tone(200, 1.0, rate)
    out = np.concatenate([conv.process(x[i:i + rate // 50]) for i in range(0, len(x), rate // 50)] + [conv.flush()])
    assert abs(len(out) - len(x)) <= conv.block_samples
    assert np.isfinite(out).all() and np.std(out[len(out) // 2:]) > 1e-3


def test_enc_q_keys_and_new_weight_norm_names_are_accepted(tiny: TinyRVC, tmp_path: Path) -> None:
    cpt = read_checkpoint(tiny.model_path)
    weight = {k.replace(".weight_g", ".parametrizations.weight.original0")
              .replace(".weight_v", ".parametrizations.weight.original1"): v for k, v in cpt["weight"].items()}
    weight["enc_q.pre.weight"] = torch.zeros(1)
    path = tmp_path / "fork.pth"
    torch.save({**cpt, "weight": weight}, path)
    net, info = load_rvc_model(path)
    assert info.sample_rate_hz == 40000


@pytest.mark.parametrize("payload", [b"", b"not a torch file", b"PK\x03\x04garbage"])
def test_corrupt_files_are_rejected(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "bad.pth"
    path.write_bytes(payload)
    with pytest.raises(EngineError) as err:
        load_rvc_model(path)
    assert err.value.code == "invalid_model"


def test_wrong_shapes_missing_file_and_v1_are_rejected(tiny: TinyRVC, tmp_path: Path) -> None:
    cpt = read_checkpoint(tiny.model_path)
    with pytest.raises(EngineError, match="missing"):
        load_rvc_model(tmp_path / "nope.pth")
    torch.save({**cpt, "version": "v1"}, tmp_path / "v1.pth")
    with pytest.raises(EngineError, match="v1"):
        load_rvc_model(tmp_path / "v1.pth")
    broken = dict(cpt["weight"])
    broken["enc_p.proj.weight"] = torch.zeros(3, 3, 3)
    torch.save({**cpt, "weight": broken}, tmp_path / "shape.pth")
    with pytest.raises(EngineError, match="do not match"):
        load_rvc_model(tmp_path / "shape.pth")


def test_crepe_tiny_real_weights_track_a_tone() -> None:
    f0 = estimate_f0(_tone(220, 0.5, 16000), "crepe")
    assert len(f0) == 51
    assert abs(np.median(f0[f0 > 0]) - 220) < 5
    assert coarse_pitch(np.array([0.0, 50.0, 1100.0], dtype=np.float32)).tolist() == [1, 1, 255]


def test_content_encoder_frame_rate(content: ContentEncoder) -> None:
    feats = content.extract(np.zeros(16000, dtype=np.float32))
    assert feats.shape == (1, 49, 768)


def test_block_loop_pitch_shift_index_and_continuity(tiny: TinyRVC, content: ContentEncoder) -> None:
    model = RVCModel.load(tiny.model_path, tiny.index_path)
    assert model.index is not None and model.index.size == 256
    rate = model.sample_rate_hz
    x = _tone(180, 2.0, rate)
    outputs = {}
    for shift in (0, 12):
        conv: Converter = RVCConverter(model, content, RVCParams(pitch_shift=shift, f0_method="crepe",
                                                                 index_rate=0.75))
        assert conv.latency_ms == 120.0
        step = rate // 50
        out = np.concatenate([conv.process(x[i:i + step]) for i in range(0, len(x), step)] + [conv.flush()])
        assert abs(len(out) - len(x)) <= rate // 10
        outputs[shift] = out
    f_base, f_up = _median_f0(outputs[0], rate), _median_f0(outputs[12], rate)
    assert abs(f_base - 180) < 10
    assert abs(f_up / f_base - 2.0) < 0.1
    steady = outputs[0][rate // 2: -rate // 4]
    # No clicks at block joins: the largest step stays within a few times the typical one.
    steps = np.abs(np.diff(steady))
    assert steps.max() < 6 * np.percentile(steps, 99)


def test_inference_dtype_follows_device_and_file() -> None:
    assert inference_dtype("cuda", torch.float16) == torch.float16
    assert inference_dtype("cuda:1", torch.float32) == torch.float32
    assert inference_dtype("cpu", torch.float16) == torch.float32


def test_fp16_file_runs_fp32_on_cpu_and_the_fp16_path_runs_end_to_end(tiny: TinyRVC) -> None:
    model = RVCModel.load(tiny.model_path, tiny.index_path)
    assert model.info.dtype == "float16" and model.info.run_dtype == "float32" and model.dtype == torch.float32
    # What CUDA runs (fp16 synthesizer and content encoder), forced on CPU: every tensor meets the right dtype.
    half = RVCModel.load(tiny.model_path, tiny.index_path, dtype=torch.float16)
    assert half.dtype == torch.float16 and half.info.run_dtype == "float16"
    content = ContentEncoder(tiny.content_dir, half=True)
    content.load()
    rate = half.sample_rate_hz
    conv = RVCConverter(half, content, RVCParams(f0_method="pm", index_rate=0.5))
    x = _tone(200, 1.0, rate)
    out = np.concatenate([conv.process(x[i:i + rate // 50]) for i in range(0, len(x), rate // 50)] + [conv.flush()])
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert abs(_median_f0(out[rate // 4:], rate) - 200) < 10


def test_compensated_flush_keeps_exact_length_and_restarts_cleanly(tiny: TinyRVC, content: ContentEncoder) -> None:
    model = RVCModel.load(tiny.model_path)
    rate = model.sample_rate_hz
    conv = RVCConverter(model, content, RVCParams(f0_method="pm"),
                        RVCBlockSettings(block_ms=200, compensate_delay=True))
    for seconds in (0.73, 0.41):  # two clips through one converter, flushed between them
        x = _tone(200, seconds, rate)
        out = np.concatenate([conv.process(x[: len(x) // 3]), conv.process(x[len(x) // 3:]), conv.flush()])
        assert len(out) == len(x)
        assert np.sqrt(np.mean(out[rate // 10:] ** 2)) > 0.01
