"""What an RVC ``.pth`` or faiss ``.index`` claims is checked against the file before anything is allocated."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import faiss
import numpy as np
import pytest
import torch

from synthesis.interfaces import EngineError
from synthesis.rvc.checkpoint import load_rvc_model, read_checkpoint
from synthesis.rvc.index import FeatureIndex
from synthesis.rvc.index_format import read_header
from synthesis.rvc.limits import expected_shapes, parse_config
from synthesis.rvc.tiny import write_tiny_rvc

_RESBLOCKS = ["1", [3, 7, 11], [[1, 3, 5]] * 3]
REAL_V2_CONFIGS = {
    32000: [513, 40, 192, 192, 768, 2, 6, 3, 0, *_RESBLOCKS, [10, 8, 2, 2], 512, [20, 16, 4, 4], 109, 256, 32000],
    40000: [1025, 32, 192, 192, 768, 2, 6, 3, 0, *_RESBLOCKS, [10, 10, 2, 2], 512, [16, 16, 4, 4], 109, 256, 40000],
    48000: [1025, 36, 192, 192, 768, 2, 6, 3, 0, *_RESBLOCKS, [12, 10, 2, 2], 512, [24, 20, 4, 4], 109, 256, 48000],
}


@pytest.mark.parametrize("sr", sorted(REAL_V2_CONFIGS))
def test_real_v2_configs_are_accepted(sr: int) -> None:
    cfg = parse_config(REAL_V2_CONFIGS[sr])
    params = sum(int(np.prod(s)) for s in expected_shapes(cfg, True).values())
    assert cfg.sr == sr and 20_000_000 < params < 60_000_000


@pytest.mark.parametrize(("position", "value", "reason"), [
    (3, 100_000, "hidden_channels 100000 is outside"),
    (13, 1 << 20, "upsample_initial_channel"),
    (6, 10**40, "n_layers"),
    (12, [10, 10, 2, 3], "multiply to"),
    (9, "3", "resblock"),
    (8, float("nan"), "p_dropout"),
    (2, 192.5, "inter_channels must be an integer"),
    (17, 44100, "unsupported RVC sample rate"),
])
def test_configs_outside_the_v2_ranges_are_refused(position: int, value: object, reason: str) -> None:
    config = list(REAL_V2_CONFIGS[40000])
    config[position] = value
    with pytest.raises(EngineError, match=reason) as err:
        parse_config(config)
    assert err.value.code == "invalid_model"


def _tiny_cpt(tmp_path: Path) -> dict[str, object]:
    return read_checkpoint(write_tiny_rvc(tmp_path / "tiny", content=False).model_path)


def test_broadcast_tensor_claiming_gigabytes_is_refused_before_use(tmp_path: Path) -> None:
    cpt = _tiny_cpt(tmp_path)
    weight = dict(cpt["weight"])  # type: ignore[call-overload]
    weight["emb_g.weight"] = torch.zeros(1, dtype=torch.float16).expand(1 << 30, 32)  # stride 0: 2 bytes stored
    path = tmp_path / "broadcast.pth"
    torch.save({**cpt, "weight": weight}, path)
    assert path.stat().st_size < 1 << 20
    with pytest.raises(EngineError, match="claim more data than the file holds"):
        load_rvc_model(path)


def test_weights_not_matching_the_config_are_named(tmp_path: Path) -> None:
    cpt = _tiny_cpt(tmp_path)
    weight = dict(cpt["weight"])  # type: ignore[call-overload]
    del weight["dec.conv_post.weight"]
    weight["dec.extra.weight"] = torch.zeros(1000)
    path = tmp_path / "renamed.pth"
    torch.save({**cpt, "weight": weight}, path)
    with pytest.raises(EngineError, match="missing dec.conv_post.weight; unexpected dec.extra.weight"):
        load_rvc_model(path)


def test_compressed_or_legacy_archives_are_refused(tmp_path: Path) -> None:
    model = write_tiny_rvc(tmp_path / "tiny", content=False).model_path
    deflated = io.BytesIO()
    with zipfile.ZipFile(model) as src, zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as dst:
        for member in src.infolist():
            dst.writestr(member.filename, src.read(member))
    with pytest.raises(EngineError, match="compressed members"):
        read_checkpoint(deflated.getvalue())
    legacy = tmp_path / "legacy.pth"
    torch.save({"weight": {}, "config": []}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(EngineError, match="not a zip archive"):
        read_checkpoint(legacy)


def _indexes(tmp_path: Path) -> dict[str, Path]:
    vectors = np.random.default_rng(1).standard_normal((600, 768)).astype(np.float32)
    flat_ip = faiss.IndexFlatIP(768)
    flat_ip.add(vectors[:5])
    full = faiss.index_factory(768, "IVF8,Flat")
    full.train(vectors)
    full.add(vectors)
    sparse = faiss.index_factory(768, "IVF64,Flat")
    sparse.train(vectors)
    sparse.add(vectors[:10])
    mapped = faiss.index_factory(768, "IVF8,Flat")
    mapped.train(vectors)
    mapped.add(vectors)
    mapped.set_direct_map_type(faiss.DirectMap.Hashtable)
    paths = {}
    for name, index in {"flat_ip": flat_ip, "ivf_full": full, "ivf_sparse": sparse, "ivf_hashmap": mapped}.items():
        paths[name] = tmp_path / f"{name}.index"
        faiss.write_index(index, str(paths[name]))
    return paths


def test_index_types_rvc_writes_are_walked_and_load(tmp_path: Path) -> None:
    for name, path in _indexes(tmp_path).items():
        header = read_header(path)
        assert header.dimension == 768, name
        assert FeatureIndex.load(path).size == header.vectors, name


def test_truncated_or_extended_indexes_are_refused(tmp_path: Path) -> None:
    data = _indexes(tmp_path)["ivf_sparse"].read_bytes()
    cut = tmp_path / "cut.index"
    for length in [*range(0, 200, 7), len(data) // 2, len(data) - 1]:
        cut.write_bytes(data[:length])
        with pytest.raises(EngineError) as err:
            read_header(cut)
        assert err.value.code == "invalid_index"
    cut.write_bytes(data + b"\0")
    with pytest.raises(EngineError, match="trailing data"):
        read_header(cut)


def test_other_index_types_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "pq.index"
    index = faiss.index_factory(768, "IVF4,PQ8")
    index.train(np.random.default_rng(2).standard_normal((400, 768)).astype(np.float32))
    faiss.write_index(index, str(path))
    with pytest.raises(EngineError, match="only flat and IVF-flat"):
        read_header(path)
    path.write_bytes(b"IxF2" + struct.pack("<iqqqBi", 768, 1 << 40, 0, 0, 1, 1) + struct.pack("<Q", 768 << 40))
    with pytest.raises(EngineError, match="cannot hold them"):
        FeatureIndex.load(path)
