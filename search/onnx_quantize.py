"""The exported model's 8-bit weights, in the two forms onnxruntime runs fast.

One quantization, ``MatMulNBits`` (8 bits, symmetric, blocks of ``BLOCK`` weights with a scale
each) for the matrix products and int8 rows for the embedding matrix, written as two graphs over
the same numbers:

- ``model.onnx``, what the browser downloads and the server's queries run: each product's int8
  weights and block scales feed ``Cast → Mul → Reshape → MatMul``. Those inputs are constant, so
  onnxruntime folds them into fp32 weights once, when a session starts, and every query is an
  fp32 product. Why not ship ``MatMulNBits`` itself: onnxruntime has no fp32 kernel for 8 bits
  and dequantizes every weight on every run, which made a single query 3.3x slower (47 → 14 ms
  on this CPU, 80 → 45 ms in the browser's wasm) for the same numbers.
- ``model-int8.onnx``, the build's passages only (never shipped): the ``MatMulNBits`` graph with
  ``accuracy_level`` 4, so onnxruntime computes the products in int8 (activations quantized per
  block at run time): 2x sentence-transformers' fp32 rate, vectors within cosine 0.9997.

Why not ``quantize_dynamic``'s int8 MatMuls: they quantize activations per tensor, and
onnxruntime's x86 and wasm integer kernels then disagree (cosine 0.996-0.998 between the Python
and the browser vector of one query), and the rounding cost 0.05-0.1 of dense MRR on the hard
queries (passages embedded that way: hard-test English hybrid MRR 0.80 against 0.86).
"""
from __future__ import annotations

from pathlib import Path

BLOCK = 128  # weights per quantization scale (32 would cost 2 MB more in scales, for nothing at 8 bits)
PASSAGE_MODEL_FILE = "model-int8.onnx"


def quantize(fp32: Path, shipped: Path, passages: Path) -> None:
    """Quantize the fp32 export at ``fp32`` once; write its two graphs (see the module doc)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    nbits = MatMulNBitsQuantizer(onnx.load(str(fp32)), bits=8, block_size=BLOCK, is_symmetric=True,
                                 accuracy_level=4, op_types_to_quantize=("MatMul",))
    nbits.process()
    mid = passages.with_name(passages.name + ".matmul.onnx")
    onnx.save(nbits.model.model, str(mid))
    try:
        quantize_dynamic(str(mid), str(passages), weight_type=QuantType.QInt8, op_types_to_quantize=["Gather"])
    finally:
        mid.unlink()
    onnx.save(unpacked_matmuls(onnx.load(str(passages))), str(shipped))


def unpacked_matmuls(model):
    """``model`` (an ``onnx.ModelProto``, changed in place and returned) with every 8-bit
    symmetric ``MatMulNBits`` written as int8 weights and block scales that onnxruntime folds into
    an fp32 ``MatMul``: ``w[k, n] = (q[n, k // B, k % B] - 128) * scale[n, k // B]``."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    nodes, added, dropped = [], [], set()
    for node in graph.node:
        if node.op_type != "MatMulNBits":
            nodes.append(node)
            continue
        at = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        k, n, block = at["K"], at["N"], at["block_size"]
        if at["bits"] != 8 or len(node.input) != 3:  # no zero points, no bias: what quantize writes
            raise ValueError(f"{node.name}: only symmetric 8-bit MatMulNBits without bias is unpacked")
        packed = numpy_helper.to_array(inits[node.input[1]])  # [N, blocks, B] uint8, zero point 128
        blocks = packed.shape[1]
        scales = numpy_helper.to_array(inits[node.input[2]]).reshape(n, blocks)
        base = f"{node.name or node.output[0]}/unpacked"
        added += [
            numpy_helper.from_array((packed.astype(np.int16) - 128).astype(np.int8).transpose(1, 2, 0), base + "/q"),
            numpy_helper.from_array(scales.T[:, None, :].astype(np.float32), base + "/scale"),
            numpy_helper.from_array(np.array([blocks * block, n], np.int64), base + "/shape"),
        ]
        dropped |= {node.input[1], node.input[2]}
        weight = base + "/w"
        nodes += [helper.make_node("Cast", [base + "/q"], [base + "/qf"], to=TensorProto.FLOAT),
                  helper.make_node("Mul", [base + "/qf", base + "/scale"], [base + "/ws"]),
                  helper.make_node("Reshape", [base + "/ws", base + "/shape"], [weight])]
        if blocks * block != k:  # the last block was padded to B rows
            added += [numpy_helper.from_array(np.array([0], np.int64), base + "/start"),
                      numpy_helper.from_array(np.array([k], np.int64), base + "/end")]
            nodes.append(helper.make_node("Slice", [weight, base + "/start", base + "/end"], [weight + "/k"]))
            weight += "/k"
        nodes.append(helper.make_node("MatMul", [node.input[0], weight], list(node.output), name=node.name))
    kept = [i for i in graph.initializer if i.name not in dropped]
    del graph.initializer[:]
    graph.initializer.extend(kept + added)
    del graph.node[:]
    graph.node.extend(nodes)
    return model
