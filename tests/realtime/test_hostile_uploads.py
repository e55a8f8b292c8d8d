"""Hostile uploads (issue 8, finding 2): files of a few bytes that claim gigabytes get a clear 4xx, the server's
memory stays bounded, and it stays up. Black box: a real server, its RSS read from /proc."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import faiss
import httpx
import numpy as np
import pytest

from synthesis.rvc.tiny import TinyRVC, write_tiny_rvc
from tests.helpers import REFERENCE_TEXT, create_account, espeak_wav, upload_voice, write_wav
from tests.realtime.hostile_files import fuzz_pth_files, huge_config_pth, huge_faiss_header, slow_rate_flac
from tests.servers import RunningServer, run_server

RSS_BUDGET_KB = 300 * 1024
UPLOAD_TIMEOUT_S = 300


@dataclass(frozen=True)
class Target:
    server: RunningServer
    headers: dict[str, str]
    voice_id: str
    tiny: TinyRVC


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    tmp = tmp_path_factory.mktemp("hostile")
    tiny = write_tiny_rvc(tmp / "tiny", content=False)
    env = {"DUBLE_TTS_ENGINE": "fake", "DUBLE_RATE_UPLOADS_PER_KEY": "1000", "DUBLE_RATE_UPLOADS_PER_IP": "0"}
    with run_server(tmp, env) as srv:
        _, headers = create_account(srv)
        voice = upload_voice(srv, headers, espeak_wav(tmp / "ref.wav", REFERENCE_TEXT["pt-BR"]))
        yield Target(srv, headers, str(voice["id"]), tiny)


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"{field} missing from /proc/{pid}/status")


class PeakRSS:
    """Peak resident memory of a process from now on, above what it holds now (kernel peak reset: clear_refs 5)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        self.idle_kb = _status_kb(pid, "VmRSS")

    def growth_kb(self) -> int:
        return _status_kb(self.pid, "VmHWM") - self.idle_kb


def _post_model(t: Target, model: bytes, index: bytes | None = None, *, voice_id: str | None = None
                ) -> httpx.Response:
    files = {"model": ("voice.pth", model), **({"index": ("voice.index", index)} if index is not None else {})}
    return httpx.post(f"{t.server.base_url}/v1/voices/{voice_id or t.voice_id}/rvc-model", headers=t.headers,
                      files=files, timeout=UPLOAD_TIMEOUT_S)


def _error(resp: httpx.Response, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()["error"]
    assert body["code"] == code, resp.text
    message: str = body["message"]
    return message


def _healthy(t: Target) -> None:
    assert httpx.get(f"{t.server.base_url}/healthz", timeout=10).status_code == 200
    assert "Traceback" not in t.server.log()


def test_pth_with_huge_config_is_refused_before_allocating(target: Target) -> None:
    peak = PeakRSS(target.server.pid)
    pth = huge_config_pth()
    assert len(pth) < 4096
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: _post_model(target, pth), range(2)))
    for resp in answers:
        assert "hidden_channels 100000 is outside" in _error(resp, 422, "invalid_model")
    assert peak.growth_kb() < RSS_BUDGET_KB
    _healthy(target)


def test_faiss_header_claiming_terabytes_is_refused_unread(target: Target) -> None:
    peak = PeakRSS(target.server.pid)
    header = huge_faiss_header()
    assert len(header) == 61
    message = _error(_post_model(target, target.tiny.model_path.read_bytes(), header), 422, "invalid_index")
    assert "536870912 vectors but the file cannot hold them" in message
    for vectors in (3, 1 << 31):  # a little over what is there, and a 2 GiB claim
        _error(_post_model(target, target.tiny.model_path.read_bytes(), huge_faiss_header(vectors)), 422,
               "invalid_index")
    assert peak.growth_kb() < RSS_BUDGET_KB
    _healthy(target)


def test_ivf_flat_index_as_rvc_writes_it_is_accepted(target: Target, tmp_path: Path) -> None:
    vectors = np.random.default_rng(0).standard_normal((400, 768)).astype(np.float32)
    index = faiss.index_factory(768, "IVF8,Flat")
    index.train(vectors)
    index.add(vectors)
    path = tmp_path / "ivf.index"
    faiss.write_index(index, str(path))
    resp = _post_model(target, target.tiny.model_path.read_bytes(), path.read_bytes())
    assert resp.status_code == 201, resp.text
    assert resp.json()["has_index"] is True
    small = faiss.index_factory(256, "IVF4,Flat")
    small.train(vectors[:, :256])
    faiss.write_index(small, str(path))
    message = _error(_post_model(target, target.tiny.model_path.read_bytes(), path.read_bytes()), 422,
                     "invalid_index")
    assert "768-d" in message


def test_flac_declaring_8_hz_is_refused_before_decoding(target: Target) -> None:
    peak = PeakRSS(target.server.pid)
    flac = slow_rate_flac(8)
    assert len(flac) == 68
    resp = httpx.post(f"{target.server.base_url}/v1/voices", headers=target.headers,
                      data={"name": "oito", "language": "pt-BR"}, files={"audio": ("a.flac", flac)}, timeout=60)
    assert "sample rate is 8 Hz" in _error(resp, 422, "invalid_audio")
    assert peak.growth_kb() < RSS_BUDGET_KB
    _healthy(target)


def test_too_short_message_never_contradicts_the_limit(target: Target, tmp_path: Path) -> None:
    rate = 24000
    t = np.arange(int(rate * 2.92)) / rate  # about 2.96 s kept: one 20 ms frame of margin each side
    tone = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    silence = np.zeros(rate // 5, np.float32)
    path = write_wav(tmp_path / "short.wav", np.concatenate([silence, tone, silence]), rate)
    resp = httpx.post(f"{target.server.base_url}/v1/voices", headers=target.headers,
                      data={"name": "curta", "language": "pt-BR"}, files={"audio": ("s.wav", path.read_bytes())},
                      timeout=60)
    message = _error(resp, 422, "audio_too_short")
    match = re.fullmatch(r"(\d+\.\d\d) s of speech after trimming silence; at least 3 s needed", message)
    assert match, message
    assert 2.9 <= float(match.group(1)) < 3.0


def test_recording_far_over_the_limit_is_refused_while_decoding(target: Target, tmp_path: Path) -> None:
    rate = 8000
    t = np.arange(rate * 70) / rate
    path = write_wav(tmp_path / "long.wav", (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), rate)
    resp = httpx.post(f"{target.server.base_url}/v1/voices", headers=target.headers,
                      data={"name": "longa", "language": "pt-BR"}, files={"audio": ("l.wav", path.read_bytes())},
                      timeout=60)
    assert "longer than 60 s" in _error(resp, 422, "audio_too_long")


def test_random_pth_files_all_get_a_clean_4xx(target: Target) -> None:
    peak = PeakRSS(target.server.pid)
    for kind, data in fuzz_pth_files(target.tiny.model_path):
        resp = _post_model(target, data)
        assert 400 <= resp.status_code < 500, (kind, resp.status_code, resp.text)
        assert resp.json()["error"]["code"] == "invalid_model", (kind, resp.text)
    assert peak.growth_kb() < RSS_BUDGET_KB
    _healthy(target)
    resp = _post_model(target, target.tiny.model_path.read_bytes())
    assert resp.status_code == 201, resp.text


def test_rvc_model_uploads_are_rate_limited(tmp_path: Path) -> None:
    limit = 3
    env = {"DUBLE_TTS_ENGINE": "fake", "DUBLE_RATE_UPLOADS_PER_KEY": str(limit), "DUBLE_RATE_UPLOADS_PER_IP": "0"}
    with run_server(tmp_path, env) as srv:
        _, headers = create_account(srv)
        url = f"{srv.base_url}/v1/voices/{uuid.uuid4()}/rvc-model"
        for _ in range(limit):
            resp = httpx.post(url, headers=headers, files={"model": ("v.pth", b"junk")}, timeout=30)
            assert resp.status_code == 404, resp.text
        resp = httpx.post(url, headers=headers, files={"model": ("v.pth", b"junk")}, timeout=30)
        assert resp.status_code == 429, resp.text
        assert resp.json()["error"]["code"] == "rate_limited"
        assert int(resp.headers["retry-after"]) >= 1
        _, other = create_account(srv)
        assert httpx.post(url, headers=other, files={"model": ("v.pth", b"junk")}, timeout=30).status_code == 404
