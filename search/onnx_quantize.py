"""The exported model's 8-bit weights, and the two graphs onnxruntime runs them in.

One quantization: every matrix product with a constant weight gets int8 weights, symmetric, with
one scale per output column; the embedding matrix gets int8 rows. The same numbers are written as
two graphs:

- ``model.onnx``, what the browser downloads and the server's queries run: each product's int8
  weights and scales feed ``Cast → Mul → MatMul``. Those inputs are constant, so onnxruntime folds
  them into fp32 weights once, when a session starts, and every query is an fp32 product: the same
  vector in the browser's wasm as here (integer kernels differ between x86 and wasm), 14 ms here.
- ``model-int8.onnx``, the build's passages only (never shipped): the products are computed in
  int8, the activations quantized as they arrive, one of two ways per product:

  - per tensor (``DynamicQuantizeMatMul``, the bias folded in), where every token's values span
    about the same range: the inputs of the attention's products;
  - per token (``QuantizeLinear`` along rows, ``MatMulIntegerToFloat``, times each row's scale),
    where a few tokens carry values many times larger than the rest: in multilingual-e5-small the
    inputs of the feed-forward layers, one token up to 38x the median token's range. One scale for
    the whole tensor would leave the other tokens a few rounding levels (relative error 0.1-0.5
    against 0.03 per token): that is what cost ``quantize_dynamic`` its quality.

  The choice is measured, not assumed: ``per_token_inputs`` runs the fp32 graph on
  ``CALIBRATION_TEXTS`` and sends to the per-token path every input where some token's largest
  value exceeds ``PER_TENSOR_RANGE`` times the median token's.

``benchmarks/browser_search_bench.py`` prints the passage rates side by side with
sentence-transformers' fp32 path. Why not ``MatMulNBits`` (what this module wrote before): at 8
bits onnxruntime has no fp32 kernel for it and dequantized every weight on every run, and its
int8 arithmetic (``accuracy_level`` 4, activations quantized per block of 128) reached 2x
sentence-transformers' rate where these kernels reach 3x.
"""
from __future__ import annotations

from pathlib import Path

PASSAGE_MODEL_FILE = "model-int8.onnx"
PER_TENSOR_RANGE = 4.0  # largest token range / median token range up to which one scale serves all
MAX_OPSET = 17  # the per-token nodes use ReduceMax's ``axes`` attribute, an input from opset 18

# Passages of the kinds the index holds (Chinese and English prose, code, formulas), for the
# activation ranges only: what matters is which inputs have outlier tokens, a property of the model.
CALIBRATION_TEXTS = [
    "分布式数据并行（DDP）在每张卡上保存一份完整的模型，每个进程读取数据集的不同分片；反向传播时，"
    "各卡的梯度通过 all-reduce 求平均，所以每一步之后所有副本的参数仍然完全相同。忘记调用 "
    "sampler.set_epoch(epoch) 会让每个 epoch 的打乱顺序都一样。",
    "A normalizing flow maps a simple base density to the data through a chain of invertible "
    "transforms; the change-of-variables formula adds the log-determinant of each Jacobian, so the "
    "exact log-likelihood can be maximised directly. Coupling layers keep that determinant cheap.",
    "def train_step(model, batch, optimizer):\n    optimizer.zero_grad()\n    loss = "
    "torch.nn.functional.cross_entropy(model(batch.x), batch.y)\n    loss.backward()\n    "
    "optimizer.step()\n    return loss.item()  # 标量，便于记录",
    "扩散模型先按固定的方差表逐步向图像加入高斯噪声，再训练一个网络预测每一步加入的噪声；采样时从纯噪声"
    "出发反向去噪。损失就是预测噪声与真实噪声之间的均方误差。",
    "tf.feature_column turns raw columns into dense tensors: numeric_column passes a float through, "
    "bucketized_column cuts it into ranges, and embedding_column learns a vector per category. "
    "Exporting with tf_export registers the public name of a symbol under tf.*.",
    "自动求导把计算记录成一张有向无环图：前向时保存中间结果，反向时按链式法则从输出往回累乘雅可比矩阵。"
    "torch.nn.Linear 是带参数的模块，torch.nn.functional.linear 只是一个函数，权重需要自己传入。",
    "The 1×1 convolution mixes channels without looking at neighbours; MBConv blocks expand the "
    "channels, apply a depthwise 3×3 convolution, squeeze-and-excite, then project back. Batch "
    "normalisation after each convolution keeps activations near zero mean and unit variance.",
    "注意力权重 softmax(QK^T / sqrt(d)) 的每一行和为 1；多头注意力把 d_model 拆成 h 个头分别计算，"
    "再拼接起来乘以输出矩阵 W_O。",
]


def quantize(fp32: Path, shipped: Path, passages: Path, calibration: list[list[int]]) -> None:
    """Quantize the fp32 export at ``fp32`` once; write its two graphs (see the module doc).
    ``calibration``: token ids of texts (``CALIBRATION_TEXTS``, prefixed as passages)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    mid = passages.with_name(passages.name + ".gather.onnx")
    try:
        quantize_dynamic(str(fp32), str(mid), weight_type=QuantType.QInt8, op_types_to_quantize=["Gather"])
        model = onnx.load(str(mid))
    finally:
        mid.unlink(missing_ok=True)
    if max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) > MAX_OPSET:
        raise ValueError(f"{fp32}: opset above {MAX_OPSET}, which the per-token quantization is written for")
    per_token = per_token_inputs(model, calibration)
    browser = onnx.ModelProto()
    browser.CopyFrom(model)
    onnx.save(fp32_products(browser), str(shipped))
    onnx.save(int8_products(model, per_token), str(passages))


def column_int8(w):
    """``w`` [K, N] → (int8 [K, N], fp32 scale [N]) with ``w ≈ q * scale``, symmetric per column."""
    import numpy as np

    scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale.astype(np.float32)


def _products(graph):
    """(position, node, weight initializer) of each MatMul with a constant 2-D weight."""
    inits = {i.name: i for i in graph.initializer}
    for at, node in enumerate(graph.node):
        if node.op_type == "MatMul" and node.input[1] in inits and len(inits[node.input[1]].dims) == 2:
            yield at, node, inits[node.input[1]]


def _weight_name(node) -> str:
    return f"{node.name or node.output[0]}/w8"


def _replace(graph, rewrite) -> None:
    """Rebuild ``graph``: each product's fp32 weight becomes int8 values and column scales (named
    ``<node>/w8/q`` and ``/scale`` in both graphs), and ``rewrite(node, base, (K, N))`` returns the
    nodes and extra initializers that replace the product, and the output names of later nodes it
    has absorbed (a bias ``Add``), which are then left out."""
    from onnx import numpy_helper

    products = {at: column_int8(numpy_helper.to_array(w).astype("float32")) for at, _, w in _products(graph)}
    # A weight some other node also reads (tied weights) stays as it is for that node.
    read_elsewhere = {name for at, node in enumerate(graph.node) if at not in products for name in node.input}
    nodes, added, dropped, skip = [], [], set(), set()
    for at, node in enumerate(graph.node):
        if node.output[0] in skip:
            continue
        if at not in products:
            nodes.append(node)
            continue
        q, scale = products[at]
        base = _weight_name(node)
        added += [numpy_helper.from_array(q, base + "/q"), numpy_helper.from_array(scale, base + "/scale")]
        if node.input[1] not in read_elsewhere:
            dropped.add(node.input[1])
        new_nodes, new_inits, skipped = rewrite(node, base, q.shape)
        nodes += new_nodes
        added += new_inits
        skip |= skipped
    kept = [i for i in graph.initializer if i.name not in dropped]
    del graph.initializer[:]
    graph.initializer.extend(kept + added)
    del graph.node[:]
    graph.node.extend(nodes)


def fp32_products(model):
    """``model`` (changed in place and returned) with each product's weight written as int8 values
    and column scales in front of a plain ``MatMul``, which onnxruntime folds into fp32 once."""
    from onnx import TensorProto, helper

    def rewrite(node, base, shape):
        return [helper.make_node("Cast", [base + "/q"], [base + "/qf"], to=TensorProto.FLOAT),
                helper.make_node("Mul", [base + "/qf", base + "/scale"], [base + "/w"]),
                helper.make_node("MatMul", [node.input[0], base + "/w"], list(node.output), name=node.name)], [], set()

    _replace(model.graph, rewrite)
    return model


def per_token_inputs(model, calibration: list[list[int]], limit: float = PER_TENSOR_RANGE) -> set[str]:
    """Names of the product inputs where, on some calibration text, one token's largest absolute
    value exceeds ``limit`` times the median token's (each text run alone: every row a real token)."""
    import numpy as np
    import onnxruntime as ort
    from onnx import ModelProto, TensorProto, helper

    probe = ModelProto()
    probe.CopyFrom(model)
    names = list(dict.fromkeys(node.input[0] for _, node, _ in _products(probe.graph)))
    known = {o.name for o in probe.graph.output}
    probe.graph.output.extend(helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in names if n not in known)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    worst = dict.fromkeys(names, 0.0)
    for ids in calibration:
        ids = np.array([ids], dtype=np.int64)
        for name, x in zip(names, session.run(names, {"input_ids": ids, "attention_mask": np.ones_like(ids)})):
            rows = np.abs(x.reshape(-1, x.shape[-1])).max(axis=1)
            worst[name] = max(worst[name], float(rows.max() / max(np.median(rows), 1e-12)))
    return {n for n, r in worst.items() if r > limit}


def int8_products(model, per_token: set[str]):
    """``model`` (changed in place and returned) with every product computed in int8: activations
    per token for the inputs named in ``per_token``, per tensor for the others (module doc)."""
    import numpy as np
    from onnx import helper, numpy_helper

    graph = model.graph
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    inits = {i.name: i for i in graph.initializer}
    shared = [numpy_helper.from_array(np.array(128, np.uint8), "w8/zero"),
              numpy_helper.from_array(np.array(1 / 127, np.float32), "w8/inv127"),
              numpy_helper.from_array(np.array(1e-12, np.float32), "w8/tiny"),
              numpy_helper.from_array(np.array(1.0, np.float32), "w8/one"),
              numpy_helper.from_array(np.array([-1], np.int64), "w8/flat")]
    quantized: dict[str, str] = {}  # an input → the prefix of its per-token int8 form (Q, K and V share one)

    def folded_bias(node, n):
        """The ``Add`` of a constant [n] bias that alone consumes the product's output, if any."""
        after = consumers.get(node.output[0], [])
        if len(after) != 1 or after[0].op_type != "Add" or node.output[0] in outputs:
            return None
        other = [i for i in after[0].input if i != node.output[0]]
        if len(other) == 1 and other[0] in inits and list(inits[other[0]].dims) == [n]:
            return after[0], other[0]
        return None

    def rewrite(node, base, shape):
        a, (k, n) = node.input[0], shape
        if a not in per_token:
            bias = folded_bias(node, n)
            if bias is None:
                return [helper.make_node("DynamicQuantizeMatMul", [a, base + "/q", base + "/scale"], list(node.output),
                                         domain="com.microsoft", name=node.name)], [], set()
            add, b = bias
            return [helper.make_node("DynamicQuantizeMatMul", [a, base + "/q", base + "/scale", "", b], list(add.output),
                                     domain="com.microsoft", name=node.name)], [], {add.output[0]}
        new, inits_ = [], []
        if a not in quantized:
            # Each row's scale is its largest |value| / 127; QuantizeLinear takes one scale per
            # row of a 2-D tensor, so the rows are flattened and the result given its shape back.
            t = quantized[a] = f"{base}/a"
            inits_.append(numpy_helper.from_array(np.array([-1, k], np.int64), t + "/rows"))
            new += [helper.make_node("Abs", [a], [t + "/abs"]),
                    helper.make_node("ReduceMax", [t + "/abs"], [t + "/max"], axes=[-1], keepdims=1),
                    helper.make_node("Max", [t + "/max", "w8/tiny"], [t + "/max+"]),
                    helper.make_node("Mul", [t + "/max+", "w8/inv127"], [t + "/scale"]),
                    helper.make_node("Reshape", [t + "/scale", "w8/flat"], [t + "/scale1"]),
                    helper.make_node("Shape", [t + "/scale1"], [t + "/m"]),
                    helper.make_node("ConstantOfShape", [t + "/m"], [t + "/zero"],
                                     value=numpy_helper.from_array(np.array([128], np.uint8))),
                    helper.make_node("Reshape", [a, t + "/rows"], [t + "/2d"]),
                    helper.make_node("QuantizeLinear", [t + "/2d", t + "/scale1", t + "/zero"], [t + "/q2d"], axis=0),
                    helper.make_node("Shape", [a], [t + "/shape"]),
                    helper.make_node("Reshape", [t + "/q2d", t + "/shape"], [t + "/q"])]
        t = quantized[a]
        new += [helper.make_node("MatMulIntegerToFloat", [t + "/q", base + "/q", "w8/one", base + "/scale", "w8/zero"],
                                 [base + "/y"], domain="com.microsoft", name=node.name),
                helper.make_node("Mul", [base + "/y", t + "/scale"], list(node.output))]
        return new, inits_, set()

    _replace(graph, rewrite)
    graph.initializer.extend(shared)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model
