from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from synthesis.f5.models import load_model_set, package_arch, resolve_language_sets, resolve_model_set
from synthesis.f5.sampler import BatchJob, SamplerSettings, generate, prepare_reference
from synthesis.f5.tiny import write_tiny_f5
from synthesis.interfaces import EngineError
from tests.synthesis.f5.support import REFERENCE_TEXT, make_voice


@pytest.mark.parametrize("fmt", ["safetensors", "pt"])
def test_tiny_sets_load_through_the_real_loaders(tmp_path: Path, fmt: str) -> None:
    root = write_tiny_f5(tmp_path / fmt, fmt=fmt)  # type: ignore[arg-type]
    spec = resolve_model_set(root)
    assert spec.checkpoint.suffix == f".{fmt}"
    loaded = load_model_set(spec, "cpu", fp16=True)
    assert loaded.dtype_name == "float32"  # fp16 only on CUDA
    assert loaded.model.transformer.dim == 64 and loaded.model.transformer.depth == 2

    voice = make_voice()
    ref = prepare_reference(loaded, voice.samples, voice.sample_rate_hz, REFERENCE_TEXT)
    jobs = [BatchJob(ref, "Uma frase curta."), BatchJob(ref, "Outra frase, bem mais longa do que a primeira.")]
    waves = generate(loaded, SamplerSettings(nfe_steps=2), jobs)
    assert len(waves) == 2
    assert 0 < len(waves[0]) < len(waves[1])
    assert all(w.dtype.name == "float32" and abs(w).max() <= 1.0 and abs(w).max() > 0 for w in waves)


def test_missing_pieces_are_named(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="does not exist"):
        resolve_model_set(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EngineError, match="no F5 checkpoint"):
        resolve_model_set(empty)
    root = write_tiny_f5(tmp_path / "set")
    shutil.rmtree(root / "vocos")
    with pytest.raises(EngineError, match="Vocos"):
        resolve_model_set(root)
    with pytest.raises(EngineError, match="DUBLE_F5_DIR"):
        resolve_language_sets(None, {})


def test_language_sets_override_and_fall_back_to_the_root(tmp_path: Path, tiny_f5_dir: Path) -> None:
    root = tmp_path / "models"
    shutil.copytree(tiny_f5_dir, root)
    es = root / "es"
    es.mkdir()
    shutil.copy(root / "model.safetensors", es / "finetune.safetensors")  # vocab and vocoder from the root
    explicit = write_tiny_f5(tmp_path / "en-set", seed=3)
    default, per_language = resolve_language_sets(root, {"en": explicit})
    assert default is not None and set(per_language) == {"es", "en"}
    assert per_language["es"].checkpoint.name == "finetune.safetensors"
    assert per_language["es"].vocab == default.vocab and per_language["es"].vocoder_dir == default.vocoder_dir
    assert per_language["en"].root == explicit
    with pytest.raises(EngineError, match="unknown languages"):
        resolve_language_sets(root, {"fr": explicit})


def test_architecture_by_package_config_name(tmp_path: Path) -> None:
    arch = package_arch("F5TTS_v1_Base")
    assert arch["dim"] == 1024 and arch["depth"] == 22
    root = write_tiny_f5(tmp_path / "named")
    manifest = json.loads((root / "f5.json").read_text())
    manifest["arch"] = "F5TTS_v1_Base"
    (root / "f5.json").write_text(json.dumps(manifest))
    assert resolve_model_set(root).arch["dim"] == 1024
    manifest["arch"] = "NoSuchModel"
    (root / "f5.json").write_text(json.dumps(manifest))
    with pytest.raises(EngineError, match="unknown F5 architecture"):
        resolve_model_set(root)
