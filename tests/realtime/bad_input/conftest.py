"""One server on the tone engine, rate limits off, shared by the bad-input suite; each test module owns an account."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import RunningServer, run_server


@pytest.fixture(scope="package")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("bad-input"), {"DUBLE_TTS_ENGINE": "fake",
                                                            "DUBLE_RATE_LIMITS_ENABLED": "false"}) as srv:
        yield srv
