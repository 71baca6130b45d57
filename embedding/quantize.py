"""The exported model's 8-bit weights.

Every matrix product with a constant weight gets int8 weights, symmetric, with one scale per
output column; the embedding matrix gets int8 rows. ``model.onnx`` stores each product's int8
weights and scales in front of a plain ``Cast → Mul → MatMul``: onnxruntime (the server, and the
browser's wasm) folds those constant inputs into fp32 weights once, when a session starts, so every
query is an fp32 product and the same vector in the browser as on the server (integer kernels
differ between x86 and wasm), while the file is a quarter of fp32's size.

Why not onnxruntime's ``quantize_dynamic``: it quantizes activations with one scale per tensor,
and in this model a few tokens of the feed-forward inputs span up to 38x the median token's range,
so rounding the rest to a few levels cost 0.05-0.1 of dense MRR.
"""
from __future__ import annotations

from pathlib import Path


def quantize(fp32: Path, out: Path) -> None:
    """Write ``fp32`` (the exported graph) to ``out`` with 8-bit weights (module doc)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    mid = out.with_name(out.name + ".gather.onnx")
    try:
        quantize_dynamic(str(fp32), str(mid), weight_type=QuantType.QInt8, op_types_to_quantize=["Gather"])
        model = onnx.load(str(mid))
    finally:
        mid.unlink(missing_ok=True)
    onnx.save(fp32_products(model), str(out))


def column_int8(w):
    """``w`` [K, N] → (int8 [K, N], fp32 scale [N]) with ``w ≈ q * scale``, symmetric per column."""
    import numpy as np

    scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale.astype(np.float32)


def fp32_products(model):
    """``model`` (changed in place and returned) with each product's fp32 weight replaced by int8
    values and column scales (``<node>/w8/q``, ``<node>/w8/scale``) feeding ``Cast → Mul → MatMul``."""
    from onnx import TensorProto, helper, numpy_helper

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
    kept = [i for i in graph.initializer if i.name not in dropped]
    del graph.initializer[:]
    graph.initializer.extend(kept + added)
    del graph.node[:]
    graph.node.extend(nodes)
    return model
