from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from synthesis.interfaces import EngineError
from synthesis.kokoro import assets
from synthesis.kokoro.assets import MODEL_FILE, join_model, load_assets
from synthesis.kokoro.model import trim_edges


def _parts(tmp_path: Path, blobs: list[bytes]) -> list[Path]:
    paths = []
    for i, blob in enumerate(blobs):
        path = tmp_path / f"part{i}.bin"
        path.write_bytes(blob)
        paths.append(path)
    return paths


def test_join_checks_the_recorded_sha256(tmp_path: Path) -> None:
    blobs = [b"one", b"two", b"three"]
    digest = hashlib.sha256(b"".join(blobs)).hexdigest()
    model = join_model(tmp_path / "cache", _parts(tmp_path, blobs), sha256=digest, size=None)
    assert model.read_bytes() == b"onetwothree"
    model.write_bytes(b"corrupted")  # a damaged cache is rebuilt from the parts
    rebuilt = join_model(tmp_path / "cache", _parts(tmp_path, blobs), sha256=digest, size=None)
    assert rebuilt.read_bytes() == b"onetwothree"


def test_corrupt_part_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"onetwo").hexdigest()
    with pytest.raises(EngineError) as info:
        join_model(tmp_path / "cache", _parts(tmp_path, [b"one", b"tw0"]), sha256=digest, size=None)
    assert info.value.code == "engine_unavailable" and "sha256" in info.value.message
    assert list((tmp_path / "cache").iterdir()) == []
    with pytest.raises(EngineError) as info:  # a part of the wrong size fails before anything is read
        join_model(tmp_path / "cache2", _parts(tmp_path, [b"one", b"two!"]), sha256=digest, size=6)
    assert "size" in info.value.message and not (tmp_path / "cache2").exists()


def test_missing_part_or_package_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError) as info:
        join_model(tmp_path, [tmp_path / "absent.bin"], sha256="0" * 64)
    assert info.value.code == "engine_unavailable" and "reinstall" in info.value.message
    with pytest.raises(EngineError) as info:
        assets._package_dir("kokoro-no-such-package")
    assert info.value.code == "engine_unavailable" and "kokoro-no-such-package" in info.value.message


def test_installed_wheels_hold_the_recorded_model(tmp_path: Path) -> None:
    got = load_assets(tmp_path)
    assert got.model_path == tmp_path / MODEL_FILE and got.model_path.stat().st_size == assets.MODEL_BYTES
    assert set(assets.VOICE_PACKS) <= set(got.voices)
    assert all(v.shape == (510, assets.STYLE_DIM) for v in got.voices.values())
    assert got.vocab[" "] == 16 and "\u0361" not in got.vocab


def test_trim_edges_cuts_silence_and_fades() -> None:
    tone = 0.5 * np.sin(np.linspace(0, 400 * np.pi, 24000)).astype(np.float32)
    audio = np.concatenate([np.zeros(12000, np.float32), tone, np.zeros(12000, np.float32)])
    out = trim_edges(audio)
    assert 24000 <= len(out) <= 24000 + 2 * int(0.04 * 24000) + 2
    assert abs(float(out[0])) < 1e-3 and abs(float(out[-1])) < 1e-3
    assert len(trim_edges(np.zeros(1000, np.float32))) == 0
