from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import RunningServer, run_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The default server (embedded engines), shared by the whole test session (never read its log). Its pt-BR/es base
    voice is espeak-ng: Kokoro (the product default) is slow on CI's cores and has its own server in
    tests/realtime/test_tts_kokoro.py."""
    classic = '{"pt-BR": "espeak", "es": "espeak"}'
    with run_server(tmp_path_factory.mktemp("server"), {"DUBLE_EMBEDDED_BASE_VOICES": classic}) as srv:
        yield srv


@pytest.fixture(scope="session")
def samples_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("samples")


@pytest.fixture(scope="session")
def fake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server on the deterministic tone engine: fast protocol and REST tests. Shared, so no test may read its log
    (what earlier tests caused is in it): a test that checks a log starts its own server and reads it after exit."""
    with run_server(tmp_path_factory.mktemp("fake-server"), {"DUBLE_TTS_ENGINE": "fake"}) as srv:
        yield srv
