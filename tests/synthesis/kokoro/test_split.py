"""Kokoro cut at the decoder input (graph.py) and the stream's opening decoded in two runs (split.py), on the real
model."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from synthesis.interfaces import EngineError
from synthesis.kokoro.assets import load_assets
from synthesis.kokoro.graph import split_model
from synthesis.kokoro.model import FRAME_SAMPLES, Cancellation, KokoroSynth
from synthesis.kokoro.split import CUT_SEARCH, OPENING_FRAMES, SplitPiece
from tests.synthesis.kokoro.conftest import CACHE

TEXT = "Amanhã cedo a equipe vai revisar"


def test_the_two_graphs_decode_exactly_what_the_whole_model_does(synth: KokoroSynth) -> None:
    import onnxruntime

    whole_model = onnxruntime.InferenceSession(str(load_assets(CACHE).model_path),
                                               providers=["CPUExecutionProvider"])
    utt = synth.prepare(TEXT, "pt-BR", "jm_kumo")
    assert utt is not None
    tokens = synth._phonemizer.tokens(synth._phonemizer.ipa(TEXT, "pt-BR"))  # type: ignore[union-attr]
    reference = whole_model.run(None, {"tokens": np.array([[0, *tokens, 0]], dtype=np.int64), "style": utt.style,
                                       "speed": np.array([1.0], dtype=np.float32)})[0].ravel()
    decoded = synth.decode(utt, 0, utt.frames)
    assert len(decoded) == len(reference) == utt.frames * FRAME_SAMPLES
    assert np.allclose(decoded, np.clip(reference, -1, 1), atol=1e-5)
    # The speech lies inside start..end: the frames left out are silent.
    outside = np.concatenate([decoded[: utt.start * FRAME_SAMPLES], decoded[utt.end * FRAME_SAMPLES :]])
    inside = decoded[utt.start * FRAME_SAMPLES : utt.end * FRAME_SAMPLES]
    assert 0 < utt.start < utt.end < utt.frames
    assert np.sqrt(np.mean(outside**2)) < 0.05 * np.sqrt(np.mean(inside**2))


def test_an_inference_beside_another_runs_on_one_thread_and_gives_the_same_audio(synth: KokoroSynth) -> None:
    utt = synth.prepare(TEXT, "pt-BR", "jm_kumo")
    assert utt is not None
    alone = synth.decode(utt, utt.start, utt.end)
    graph = synth._decoder
    assert graph is not None and graph.narrow is not graph.wide
    used: list[str] = []
    second = threading.Event()

    class Spy:
        """Records which session ran; the first run waits until the second has begun, so the two overlap."""

        def __init__(self, name: str, session: Any) -> None:
            self._name, self._session = name, session

        def run(self, *args: Any) -> Any:
            used.append(self._name)
            if len(used) == 1:
                assert second.wait(30)
            else:
                second.set()
            return self._session.run(*args)

    synth._decoder = type(graph)(Spy("wide", graph.wide), Spy("narrow", graph.narrow))
    results: list[npt.NDArray[np.float32]] = []

    def decode() -> None:
        results.append(synth.decode(utt, utt.start, utt.end))

    try:
        threads = [threading.Thread(target=decode) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        synth._decoder = graph
    assert len(results) == 2 and all(np.array_equal(r, alone) for r in results)
    assert used == ["wide", "narrow"]


def _spectral_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Log-spectral distance over 512-sample frames, the floor 60 dB under the louder signal's peak."""
    n = min(len(a), len(b)) // 512 * 512
    power = [np.abs(np.fft.rfft(x[:n].reshape(-1, 512) * np.hanning(512), axis=1)) ** 2 for x in (a, b)]
    floor = 1e-6 * max(float(p.max()) for p in power)
    spec = [np.log10(p + floor) for p in power]
    return float(np.mean(np.sqrt(np.mean((spec[0] - spec[1]) ** 2, axis=1))))


def test_a_stretch_decoded_alone_continues_the_harmonic_phase(synth: KokoroSynth) -> None:
    utt = synth.prepare(TEXT, "pt-BR", "jm_kumo")
    assert utt is not None
    whole = synth.decode(utt, utt.start, utt.end)
    mid = (utt.start + utt.end) // 2
    continued = synth.decode(utt, mid, utt.end, left=12)
    # The same frames with the sines restarted at phase 0 (the graph without phase0 would do this).
    restarted = synth._run(synth._decoder, {
        "asr": np.ascontiguousarray(utt.asr[:, :, mid - 12 : utt.end]),
        "f0": np.ascontiguousarray(utt.f0[:, 2 * (mid - 12) : 2 * utt.end]),
        "energy": np.ascontiguousarray(utt.energy[:, 2 * (mid - 12) : 2 * utt.end]),
        "style": utt.style, "phase0": np.zeros((1, 1, 9), dtype=np.float32)}, None)[0].ravel()[12 * FRAME_SAMPLES :]
    target = whole[(mid - utt.start) * FRAME_SAMPLES :]
    assert len(continued) == len(target)

    def correlation(x: np.ndarray) -> float:
        return float(np.dot(x, target) / (np.linalg.norm(x) * np.linalg.norm(target)))

    # Measured: 0.80 against 0.02 (the restarted sines are out of step with the whole decode's).
    assert correlation(continued) > 0.5 > 0.2 > correlation(restarted)
    assert _spectral_distance(continued, target) < min(0.4, _spectral_distance(restarted, target))


def test_opening_comes_from_a_short_run_and_the_rest_joins_it(synth: KokoroSynth) -> None:
    whole = synth.synthesize(TEXT, "pt-BR", "jm_kumo", skip_silence=True)
    piece = SplitPiece(synth, TEXT, "pt-BR", "jm_kumo", speed=1.0, cancellation=Cancellation())
    opening = piece.opening()
    rest = piece.rest()
    assert piece.spoke and len(opening) <= (OPENING_FRAMES + CUT_SEARCH) * FRAME_SAMPLES < len(rest)
    joined = np.concatenate([opening, rest])
    assert abs(len(joined) - len(whole)) < 0.1 * 24000
    assert _spectral_distance(joined, whole) < 0.4
    # No click at the seam: the step there is no larger than the steps the speech itself takes.
    steps = np.abs(np.diff(joined))
    seam = len(opening)
    assert steps[seam - 8 : seam + 8].max() <= np.percentile(steps, 99.9)


def test_a_piece_beyond_the_models_speeds_is_spoken_whole_by_the_opening(synth: KokoroSynth) -> None:
    # Its tempo change needs the whole piece.
    piece = SplitPiece(synth, TEXT, "pt-BR", "jm_kumo", speed=4.0, cancellation=Cancellation())
    opening = piece.opening()
    whole = synth.synthesize(TEXT, "pt-BR", "jm_kumo", speed=4.0)
    assert piece.spoke and len(opening) == len(whole) > 0.3 * 24000
    assert len(piece.rest()) == 0


def test_a_cancelled_piece_gives_nothing(synth: KokoroSynth) -> None:
    cancellation = Cancellation()
    cancellation.cancel()
    piece = SplitPiece(synth, TEXT, "pt-BR", "jm_kumo", speed=1.0, cancellation=cancellation)
    assert len(piece.opening()) == 0 and len(piece.rest()) == 0 and not piece.spoke


def test_a_model_that_is_not_kokoro_cannot_be_split(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["tokens"], ["audio"])], "other",
                              [helper.make_tensor_value_info("tokens", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1])])
    path = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(EngineError) as info:
        split_model(path)
    assert info.value.code == "engine_unavailable" and "split" in info.value.message
