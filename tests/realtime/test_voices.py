from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.helpers import REFERENCE_TEXT, create_account, espeak_wav, transcode, upload_voice, write_wav
from tests.servers import RunningServer


@pytest.fixture(scope="module")
def speech_wav(samples_dir: Path) -> Path:
    return espeak_wav(samples_dir / "ref.wav", REFERENCE_TEXT["pt-BR"])


def _post_voice(server: RunningServer, headers: dict[str, str], path: Path, **data: str) -> httpx.Response:
    fields = {"name": "voz", "language": "pt-BR", **data}
    with open(path, "rb") as fh:
        return httpx.post(f"{server.base_url}/v1/voices", headers=headers, data=fields,
                          files={"audio": (path.name, fh, "application/octet-stream")}, timeout=60)


def test_account_lifecycle(fake_server: RunningServer) -> None:
    key, headers = create_account(fake_server)
    assert key.startswith("dbl_")
    me = httpx.get(f"{fake_server.base_url}/v1/account", headers=headers).json()
    assert me["plan"] == "free" and me["credits"] == 100
    assert "@example.com" in me["email"]
    dup = httpx.post(f"{fake_server.base_url}/v1/accounts", json={"email": me["email"].upper()})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "email_taken"


@pytest.mark.parametrize("body", [{}, {"email": "not-an-email"}, {"email": 5}])
def test_account_bad_input(fake_server: RunningServer, body: dict[str, object]) -> None:
    resp = httpx.post(f"{fake_server.base_url}/v1/accounts", json=body)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer dbl_wrong"}, {"Authorization": "Basic abc"}])
def test_auth_required(fake_server: RunningServer, headers: dict[str, str]) -> None:
    resp = httpx.get(f"{fake_server.base_url}/v1/account", headers=headers)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("suffix", ["wav", "flac", "mp3", "ogg", "webm", "m4a"])
def test_upload_formats(fake_server: RunningServer, speech_wav: Path, samples_dir: Path, suffix: str) -> None:
    _, headers = create_account(fake_server)
    path = speech_wav if suffix == "wav" else transcode(speech_wav, samples_dir / f"ref.{suffix}")
    voice = upload_voice(fake_server, headers, path, reference_text=REFERENCE_TEXT["pt-BR"])
    assert voice["language"] == "pt-BR"
    assert 3.0 <= float(voice["duration_s"]) <= 30.0  # type: ignore[arg-type]
    got = httpx.get(f"{fake_server.base_url}/v1/voices/{voice['id']}", headers=headers).json()
    assert got["id"] == voice["id"] and got["reference_text"] == REFERENCE_TEXT["pt-BR"]


def test_upload_trims_silence(fake_server: RunningServer, speech_wav: Path, samples_dir: Path) -> None:
    import soundfile as sf

    speech, rate = sf.read(str(speech_wav), dtype="float32")
    padded = np.concatenate([np.zeros(rate * 3, np.float32), speech, np.zeros(rate * 4, np.float32)])
    _, headers = create_account(fake_server)
    plain = upload_voice(fake_server, headers, speech_wav)
    trimmed = upload_voice(fake_server, headers, write_wav(samples_dir / "padded.wav", padded, rate))
    assert abs(float(trimmed["duration_s"]) - float(plain["duration_s"])) < 0.2  # type: ignore[arg-type]


def test_list_get_delete_and_isolation(fake_server: RunningServer, speech_wav: Path) -> None:
    _, alice = create_account(fake_server)
    _, bob = create_account(fake_server)
    voice = upload_voice(fake_server, alice, speech_wav)
    listed = httpx.get(f"{fake_server.base_url}/v1/voices", headers=alice).json()["voices"]
    assert [v["id"] for v in listed] == [voice["id"]]
    assert httpx.get(f"{fake_server.base_url}/v1/voices", headers=bob).json()["voices"] == []
    for method in ("GET", "DELETE"):
        resp = httpx.request(method, f"{fake_server.base_url}/v1/voices/{voice['id']}", headers=bob)
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "voice_not_found"
    assert httpx.get(f"{fake_server.base_url}/v1/voices/not-a-uuid", headers=alice).status_code == 404
    assert httpx.delete(f"{fake_server.base_url}/v1/voices/{voice['id']}", headers=alice).status_code == 204
    assert httpx.get(f"{fake_server.base_url}/v1/voices/{voice['id']}", headers=alice).status_code == 404
    assert httpx.delete(f"{fake_server.base_url}/v1/voices/{uuid.uuid4()}", headers=alice).status_code == 404


def test_bad_uploads(fake_server: RunningServer, speech_wav: Path, samples_dir: Path) -> None:
    _, headers = create_account(fake_server)
    rate = 24000
    cases: dict[str, tuple[Path, str]] = {
        "text": (samples_dir / "notes.wav", "invalid_audio"),
        "corrupt": (samples_dir / "corrupt.mp3", "invalid_audio"),
        "silent": (write_wav(samples_dir / "silent.wav", np.zeros(rate * 5, np.float32), rate), "silent_audio"),
        "short": (write_wav(samples_dir / "short.wav", _speechlike(rate, 1.5), rate), "audio_too_short"),
        "long": (write_wav(samples_dir / "long.wav", _speechlike(rate, 40.0), rate), "audio_too_long"),
    }
    cases["text"][0].write_text("this is not audio at all\n" * 50)
    cases["corrupt"][0].write_bytes(b"ID3" + bytes(range(256)) * 40)
    for name, (path, code) in cases.items():
        resp = _post_voice(fake_server, headers, path)
        assert resp.status_code == 422, (name, resp.text)
        assert resp.json()["error"]["code"] == code, (name, resp.text)
    resp = _post_voice(fake_server, headers, speech_wav, language="fr")
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_language"
    resp = httpx.post(f"{fake_server.base_url}/v1/voices", headers=headers, data={"name": "x", "language": "en"})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_request"
    assert httpx.get(f"{fake_server.base_url}/v1/voices", headers=headers).json()["voices"] == []


def test_upload_too_large(fake_server: RunningServer, samples_dir: Path) -> None:
    _, headers = create_account(fake_server)
    big = samples_dir / "big.wav"
    big.write_bytes(b"\0" * (21 * 1024 * 1024))
    # past the route bound (realtime/body_limits.py): refused before the body is read
    resp = _post_voice(fake_server, headers, big)
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "body_too_large"


def test_free_plan_voice_limit(fake_server: RunningServer, speech_wav: Path) -> None:
    _, headers = create_account(fake_server)
    for i in range(5):
        upload_voice(fake_server, headers, speech_wav, name=f"v{i}")
    resp = _post_voice(fake_server, headers, speech_wav)
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "voice_limit_reached"


def test_healthz_and_openapi(fake_server: RunningServer) -> None:
    assert httpx.get(f"{fake_server.base_url}/healthz").json()["status"] == "ok"
    assert httpx.get(f"{fake_server.base_url}/docs").status_code == 200
    assert "/v1/voices" in httpx.get(f"{fake_server.base_url}/openapi.json").json()["paths"]


def _speechlike(rate: int, seconds: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.3 * envelope * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
