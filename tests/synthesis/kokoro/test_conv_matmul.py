"""Quantized convs rewritten as matrix products (conv_matmul.py) give exactly the numbers ``ConvInteger`` gives."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from synthesis.kokoro.assets import load_assets
from synthesis.kokoro.conv_matmul import convs_as_matmul
from synthesis.kokoro.graph import phase_at, split_model
from synthesis.kokoro.model import KokoroSynth
from tests.synthesis.kokoro.conftest import CACHE

CIN, COUT = 24, 16


def _conv_model(weights: npt.NDArray[Any], zero: int, *, quantized_input: bool = True, **attrs: Any) -> Any:
    """float x (1, CIN, T) -> DynamicQuantizeLinear -> ConvInteger(weights) -> int32 y, as Kokoro's graph has it."""
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(weights.astype(np.uint8), "w"),
             numpy_helper.from_array(np.array(zero, dtype=np.uint8), "w_zero")]
    if quantized_input:
        nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "x_scale", "x_zero"])]
        x_type = TensorProto.FLOAT
    else:  # a uint8 graph input: not known to come from DynamicQuantizeLinear
        nodes = [helper.make_node("Identity", ["x"], ["xq"])]
        inits.append(numpy_helper.from_array(np.array(3, dtype=np.uint8), "x_zero"))
        x_type = TensorProto.UINT8
    nodes.append(helper.make_node("ConvInteger", ["xq", "w", "x_zero", "w_zero"], ["y"], name="conv", **attrs))
    graph = helper.make_graph(nodes, "conv", [helper.make_tensor_value_info("x", x_type, [1, CIN, None])],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: Any, x: npt.NDArray[Any]) -> npt.NDArray[Any]:
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out: npt.NDArray[Any] = session.run(None, {"x": x})[0]
    return out


def _weights(kernel: int, zero: int, seed: int) -> npt.NDArray[Any]:
    """Kokoro-like weights: stored in 0..127, each at most 64 from the zero point (no pair can saturate)."""
    rng = np.random.default_rng(seed)
    return np.clip(zero + rng.integers(-64, 65, size=(COUT, CIN, kernel)), 0, 127)


@pytest.mark.parametrize("kernel, attrs", [
    (1, {}),
    (3, {"pads": [1, 1]}),
    (7, {"pads": [9, 9], "dilations": [3]}),
    (11, {"pads": [25, 25], "dilations": [5]}),
    (4, {"strides": [2], "pads": [1, 2]}),
    (12, {"strides": [6], "pads": [3, 3]}),
    (5, {}),
])
def test_a_rewritten_conv_gives_the_same_integers(kernel: int, attrs: dict[str, Any]) -> None:
    zero = 64
    original = _conv_model(_weights(kernel, zero, seed=kernel), zero, **attrs)
    rewritten = _conv_model(_weights(kernel, zero, seed=kernel), zero, **attrs)
    assert convs_as_matmul(rewritten) == 1
    assert all(node.op_type != "ConvInteger" for node in rewritten.graph.node)
    rng = np.random.default_rng(0)
    for steps in (37, 200):
        # Skewed inputs put the quantized values at both ends of 0..255.
        x = (rng.standard_normal((1, CIN, steps)) * rng.uniform(0.1, 3.0, (1, CIN, 1)) + 0.5).astype(np.float32)
        expected = _run(original, x)
        got = _run(rewritten, x)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        assert np.array_equal(got, expected)


def test_weights_that_could_saturate_a_16_bit_pair_sum_are_left_alone() -> None:
    zero = 40
    weights = np.full((COUT, CIN, 3), zero)
    weights[5, 0, 0] = 127  # 87 from the zero point, in row 0 (tap 0, channel 0), which pairs with row 1
    weights[5, 2, 0] = zero + 60  # row 2 pairs with row 3: far from row 0
    assert convs_as_matmul(_conv_model(weights, zero, pads=[1, 1])) == 1
    weights[5, 1, 0] = zero + 41  # 87 + 41 = 128: 255 * 128 still fits 16 bits
    assert convs_as_matmul(_conv_model(weights, zero, pads=[1, 1])) == 1
    weights[5, 1, 0] = zero - 42  # 87 + 42 = 129: it might not
    assert convs_as_matmul(_conv_model(weights, zero, pads=[1, 1])) == 0


def test_a_conv_whose_input_may_not_be_uint8_from_dynamic_quantization_is_left_alone() -> None:
    assert convs_as_matmul(_conv_model(_weights(3, 64, seed=2), 64, quantized_input=False, pads=[1, 1])) == 0


def test_the_rewritten_model_speaks_exactly_as_the_original(synth: KokoroSynth) -> None:
    import onnxruntime

    utt = synth.prepare("Amanhã cedo a equipe vai revisar", "pt-BR", "jm_kumo")
    assert utt is not None
    path = load_assets(CACHE).model_path
    plain, fast = split_model(path, fast_convs=False), split_model(path, fast_convs=True)
    assert fast.decoder.count(b"ConvInteger") < plain.decoder.count(b"ConvInteger") // 10
    tokens = synth._phonemizer.tokens(synth._phonemizer.ipa("Amanhã cedo", "pt-BR"))  # type: ignore[union-attr]
    encoder_feed = {"tokens": np.array([[0, *tokens, 0]], dtype=np.int64), "style": utt.style,
                    "speed": np.array([1.0], dtype=np.float32)}
    decoder_feed = {"asr": utt.asr, "f0": utt.f0, "energy": utt.energy, "style": utt.style,
                    "phase0": phase_at(utt.f0, 0)}
    for name, feed in (("encoder", encoder_feed), ("decoder", decoder_feed)):
        outputs = [onnxruntime.InferenceSession(getattr(graphs, name), providers=["CPUExecutionProvider"])
                   .run(None, feed) for graphs in (plain, fast)]
        for expected, got in zip(*outputs, strict=True):
            assert np.array_equal(expected, got), name
