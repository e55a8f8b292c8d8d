"""Kokoro's quantized 1-D convolutions rewritten as gathered columns times int8 weights, with identical results.

The int8 model stores every conv weight as uint8, so onnxruntime runs ``ConvInteger`` on its slow uint8 x uint8 path.
The rewrite gathers each conv's input columns (one row per output step, ``kernel`` taps side by side) and multiplies
them with ``MatMulInteger`` by the same weights minus their zero point, as int8: onnxruntime's uint8 x int8 product is
faster (on VNNI/AMX CPUs about twice as fast; ~10 % on AVX2 alone). Without VNNI that product adds adjacent pairs of
products in 16 bits and saturates, so a conv is rewritten only when no pair of its weights that meet there can reach
the limit (uint8 inputs: 255 * (|a| + |b|) <= 32767); two of Kokoro's 68 decoder convs (tiny ones) stay as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

_PAIR_LIMIT = 128


def convs_as_matmul(model: Any) -> int:
    """Rewrite, in place, every 1-D ``ConvInteger`` of ``model`` (an onnx ModelProto) with constant uint8 weights,
    one zero point and weights that cannot saturate; returns how many were rewritten."""
    from onnx import numpy_helper

    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    consts: dict[str, Any] = {}

    def const(name: str, value: Any) -> str:
        if name not in consts:
            consts[name] = numpy_helper.from_array(np.asarray(value), name)
        return name

    # MatMulInteger's fast path and the saturation bound both assume uint8 inputs: DynamicQuantizeLinear's.
    uint8_inputs = {node.output[0] for node in graph.node if node.op_type == "DynamicQuantizeLinear"}
    nodes: list[Any] = []
    rewritten = 0
    for node in graph.node:
        shape = _conv_shape(node, inits) if node.input[:1] and node.input[0] in uint8_inputs else None
        columns = None if shape is None else _signed_columns(node, inits)
        if shape is None or columns is None:
            nodes.append(node)
        else:
            nodes.extend(_as_matmul(node, shape, columns, const))
            rewritten += 1
    if rewritten:
        del graph.node[:]
        graph.node.extend(nodes)
        graph.initializer.extend(consts.values())
        used = {name for node in graph.node for name in node.input}
        kept = [init for init in graph.initializer if init.name in used]
        del graph.initializer[:]
        graph.initializer.extend(kept)
    return rewritten


def _signed_columns(node: Any, inits: dict[str, Any]) -> npt.NDArray[np.int8] | None:
    """The weights as an int8 (kernel * cin, cout) matrix, row = tap * cin + channel, zero point taken out; None when
    they do not fit int8, or when two weights that meet in one 16-bit sum (rows 0 and 1, 2 and 3, ...) could overflow
    it."""
    from onnx import numpy_helper

    weights = numpy_helper.to_array(inits[node.input[1]]).astype(np.int16)
    centered = weights - numpy_helper.to_array(inits[node.input[3]]).astype(np.int16).reshape(())
    cout, cin, kernel = centered.shape
    columns = np.ascontiguousarray(centered.transpose(2, 1, 0).reshape(kernel * cin, cout))
    size = np.abs(columns)
    pairs = size[0 : len(size) - 1 : 2] + size[1::2]
    if int(size.max(initial=0)) > 127 or int(pairs.max(initial=0)) > _PAIR_LIMIT:
        return None
    return columns.astype(np.int8)


def _as_matmul(node: Any, shape: tuple[int, int, int, tuple[int, int]], columns: npt.NDArray[np.int8],
               const: Callable[[str, Any], str]) -> list[Any]:
    from onnx import helper

    x, _, x_zero, _ = node.input
    kernel, stride, dilation, pads = shape
    cin = columns.shape[0] // kernel
    tag = node.name or node.output[0]

    def out(suffix: str) -> str:
        return f"{tag}/{suffix}"

    def i64(value: Any) -> str:
        array = np.asarray(value, dtype=np.int64)
        return const(f"i64/{array.shape}/{array.ravel().tolist()}", array)

    span = dilation * (kernel - 1) + 1
    steps = [helper.make_node("Transpose", [x], [out("xt")], perm=[0, 2, 1])]  # (1, T, C)
    cols = out("xt")
    if not (kernel == 1 and stride == 1 and pads == (0, 0)):
        cols = out("cols")
        steps += [
            helper.make_node("Pad", [out("xt"), i64([0, pads[0], 0, 0, pads[1], 0]), x_zero], [out("xp")]),
            helper.make_node("Squeeze", [out("xp"), i64([0])], [out("rows")]),  # (T + pads, C)
            helper.make_node("Shape", [out("rows")], [out("rows_shape")], start=0, end=1),
            helper.make_node("Squeeze", [out("rows_shape")], [out("padded")]),
            helper.make_node("Sub", [out("padded"), i64(span)], [out("room")]),
            helper.make_node("Div", [out("room"), i64(stride)], [out("moves")]),
            helper.make_node("Add", [out("moves"), i64(1)], [out("steps")]),
            helper.make_node("Range", [i64(0), out("steps"), i64(1)], [out("t")]),
            helper.make_node("Mul", [out("t"), i64(stride)], [out("first")]),
            helper.make_node("Unsqueeze", [out("first"), i64([1])], [out("first_col")]),
            helper.make_node("Add", [out("first_col"), i64((np.arange(kernel) * dilation)[None, :])],
                             [out("index")]),  # (steps, kernel): the input rows each output step reads
            helper.make_node("Gather", [out("rows"), out("index")], [out("gathered")], axis=0),
            helper.make_node("Reshape", [out("gathered"), i64([1, -1, kernel * cin])], [cols]),
        ]
    steps += [
        helper.make_node("MatMulInteger", [cols, const(f"{tag}/w", columns), x_zero,
                                           const("int8/0", np.zeros((), dtype=np.int8))], [out("yt")]),
        helper.make_node("Transpose", [out("yt")], [node.output[0]], perm=[0, 2, 1]),
    ]
    return steps


def _conv_shape(node: Any, inits: dict[str, Any]) -> tuple[int, int, int, tuple[int, int]] | None:
    """(kernel, stride, dilation, pads) of a ConvInteger this rewrite handles, else None."""
    if node.op_type != "ConvInteger" or len(node.input) != 4:
        return None
    weight, weight_zero = inits.get(node.input[1]), inits.get(node.input[3])
    if weight is None or weight_zero is None or weight.data_type != 2 or len(weight.dims) != 3:
        return None
    if weight_zero.data_type != 2 or list(weight_zero.dims) not in ([], [1]):
        return None
    from onnx import helper

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if attrs.get("group", 1) != 1 or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return None
    kernel = int(weight.dims[2])
    strides, dilations = list(attrs.get("strides", [1])), list(attrs.get("dilations", [1]))
    pads = list(attrs.get("pads", [0, 0]))
    if len(strides) != 1 or len(dilations) != 1 or len(pads) != 2:
        return None
    return kernel, int(strides[0]), int(dilations[0]), (int(pads[0]), int(pads[1]))
