from __future__ import annotations

from pathlib import Path

import pytest

from synthesis.kokoro.model import KokoroSynth

CACHE = Path.home() / ".cache" / "duble" / "kokoro"


@pytest.fixture(scope="session")
def synth() -> KokoroSynth:
    """The real model, loaded once: two threads alone, one beside another inference."""
    s = KokoroSynth(CACHE, intra_op_threads=2)
    s.load()
    return s
