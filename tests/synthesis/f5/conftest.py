from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from synthesis.f5.engine import F5TTSEngine
from synthesis.f5.tiny import write_tiny_f5
from synthesis.worker import DeviceWorker
from tests.synthesis.f5.support import started_engine


@pytest.fixture(scope="session")
def tiny_f5_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_f5(tmp_path_factory.mktemp("tiny-f5"))


@pytest.fixture
async def engine(tiny_f5_dir: Path) -> AsyncIterator[tuple[F5TTSEngine, DeviceWorker]]:
    eng, worker = await started_engine(tiny_f5_dir)
    try:
        yield eng, worker
    finally:
        await worker.stop()
