"""Kokoro's ONNX graph cut in two at the decoder's input, so frames can be chosen before the costly part runs.

The encoder (text, durations, F0 and energy: cheap) gives frame features; the decoder (the vocoder: nearly all the
compute) turns any run of frames into audio. The decoder gets one extra input, ``phase0``: added to the harmonic
source's running phase, it lets a run of frames that does not start at frame 0 continue every sine where the frames
before it left it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synthesis.interfaces import EngineError, Samples
from synthesis.kokoro.conv_matmul import convs_as_matmul

# Tensors of kokoro-v1.0.int8.onnx (the pinned MODEL_SHA256) where the cut is made.
ASR = "/encoder/MatMul_1_output_0"  # (1, 512, T): aligned text features, 40 frames a second
F0 = "/encoder/Reshape_output_0"  # (1, 2T): pitch, 80 frames a second
ENERGY = "/encoder/Reshape_1_output_0"  # (1, 2T): below 0 where the output is silent
PHASE_SUM = "/decoder/decoder/generator/m_source/l_sin_gen/CumSum_output_0"  # (1, 2T, 9): phase in cycles / 300
HARMONICS = 9
SOURCE_UPSAMPLE = 300  # output samples per F0 frame
SAMPLE_RATE_HZ = 24000


@dataclass(slots=True, frozen=True)
class SplitGraph:
    encoder: bytes
    """Inputs ``tokens``, ``style``, ``speed``; outputs ``asr``, ``f0``, ``energy``."""
    decoder: bytes
    """Inputs ``asr``, ``f0``, ``energy``, ``style``, ``phase0``; output ``audio`` (24 kHz)."""


def split_model(path: Path, *, fast_convs: bool = True) -> SplitGraph:
    """The two graphs; ``fast_convs`` rewrites their quantized convs as matrix products (conv_matmul.py: the same
    numbers, sooner)."""
    try:
        import onnx
        from onnx import TensorProto, helper
        from onnx.utils import Extractor
    except ImportError:
        raise EngineError("engine_unavailable", "the Kokoro voice needs the onnx package") from None
    try:
        model = onnx.load(str(path))
        audio_name = model.graph.output[0].name
        extractor = Extractor(model)
        encoder = extractor.extract_model(["tokens", "style", "speed"], [ASR, F0, ENERGY])
        decoder = extractor.extract_model([ASR, F0, ENERGY, "style"], [audio_name])
    except Exception as exc:  # onnx raises assorted errors for a graph that is not the pinned one
        raise EngineError("engine_unavailable", f"the Kokoro model cannot be split: {type(exc).__name__}: {exc}") \
            from None
    _rename(encoder.graph, {ASR: "asr", F0: "f0", ENERGY: "energy"})
    _rename(decoder.graph, {ASR: "asr", F0: "f0", ENERGY: "energy", audio_name: "audio"})
    shifted = PHASE_SUM + "_shifted"
    consumers = [n for n in decoder.graph.node if PHASE_SUM in n.input]
    if not consumers:
        raise EngineError("engine_unavailable", "the Kokoro model has no harmonic phase tensor to continue")
    for node in consumers:
        node.input[:] = [shifted if name == PHASE_SUM else name for name in node.input]
    decoder.graph.node.append(helper.make_node("Add", [PHASE_SUM, "phase0"], [shifted], name="phase0_add"))
    decoder.graph.input.append(helper.make_tensor_value_info("phase0", TensorProto.FLOAT, [1, 1, HARMONICS]))
    if fast_convs:
        for graph in (encoder, decoder):
            convs_as_matmul(graph)
    return SplitGraph(encoder.SerializeToString(), decoder.SerializeToString())


def _rename(graph: object, names: dict[str, str]) -> None:
    for node in graph.node:  # type: ignore[attr-defined]
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    for value in [*graph.input, *graph.output]:  # type: ignore[attr-defined]
        value.name = names.get(value.name, value.name)


def phase_at(f0: Samples, frame80: int) -> Samples:
    """``phase0`` (1, 1, 9) for a run that starts at F0 frame ``frame80``: the phase the frames before it reach."""
    harmonics = np.arange(1, HARMONICS + 1, dtype=np.float64)
    steps = np.mod(np.asarray(f0, dtype=np.float64).ravel()[:frame80, None] * harmonics / SAMPLE_RATE_HZ, 1.0)
    cycles = np.mod(steps.sum(axis=0) * SOURCE_UPSAMPLE, 1.0)
    phase: Samples = (cycles / SOURCE_UPSAMPLE).astype(np.float32).reshape(1, 1, HARMONICS)
    return phase
