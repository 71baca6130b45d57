"""A NumPy forward pass of a BERT sentence-transformers folder, for queries.

Why it exists: answering one query needs a 12-layer encoder over ~20 tokens,
a few milliseconds of arithmetic, but importing torch, transformers and
sentence-transformers costs about 4 s and a ~1 GiB process. ``search query``
and a freshly started ``search serve`` would spend most of their time
importing. This module reads the *same* folder sentence-transformers loads
(``model.safetensors``, ``tokenizer.json``, the pooling config) and computes
the same function with NumPy, so a cold query takes NumPy + tokenizers and
memory-maps the weights instead of copying them.

It covers exactly the pipeline the bundled model uses (BERT -> mean pooling ->
L2 normalisation, float32 weights); ``unsupported_reason`` says why any other
folder is left to sentence-transformers. Passages (index builds, large
batches, GPUs) always go through sentence-transformers; the tests check that
both paths give the same vectors.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from scipy.special import erf

ST_TRANSFORMER = "sentence_transformers.models.Transformer"
ST_POOLING = "sentence_transformers.models.Pooling"
ST_NORMALIZE = "sentence_transformers.models.Normalize"


def _read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def _sentence_bert_config(folder: Path) -> dict:
    path = folder / "sentence_bert_config.json"
    return _read_json(path) if path.is_file() else {}


class UnsupportedModel(ValueError):
    """A folder this encoder does not reproduce; sentence-transformers can still run it."""


def unsupported_reason(folder: str | Path) -> str | None:
    """None when ``folder`` is a model this encoder reproduces; otherwise why not."""
    folder = Path(folder)
    if not folder.is_dir():
        return f"{folder} is not a local folder"
    for name in ("modules.json", "config.json", "tokenizer.json", "model.safetensors"):
        if not (folder / name).is_file():
            return f"no {name}"
    try:
        modules = _read_json(folder / "modules.json")
        config = _read_json(folder / "config.json")
        st_config = _sentence_bert_config(folder)
        types = [m["type"] for m in modules]
        pooling = _read_json(folder / modules[1]["path"] / "config.json") if len(modules) > 1 else {}
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        return f"unreadable configuration ({e})"
    if types not in ([ST_TRANSFORMER, ST_POOLING], [ST_TRANSFORMER, ST_POOLING, ST_NORMALIZE]):
        return f"modules {types} are not Transformer -> Pooling [-> Normalize]"
    if config.get("model_type") != "bert":
        return f"model_type {config.get('model_type')!r} is not 'bert'"
    if config.get("hidden_act") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
        return "only BERT with exact GELU and absolute positions is reproduced"
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v]
    if modes != ["pooling_mode_mean_tokens"]:
        return f"pooling {modes} is not mean pooling"
    if st_config.get("do_lower_case"):
        return "lower-casing tokenizers are not reproduced"
    dtypes = {t["dtype"] for n, t in _safetensors_header(folder / "model.safetensors")[0].items()
              if n != "__metadata__"}
    if dtypes != {"F32"}:
        return f"weights are {sorted(dtypes)}, not float32"
    return None


def _safetensors_header(path: Path) -> tuple[dict, int]:
    """The JSON header of a safetensors file and where its data starts.

    The format: an 8-byte little-endian header length, the JSON header
    (name -> dtype, shape, [begin, end) offsets into the data), then the data.
    """
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n)), 8 + n


def load_safetensors_mmap(path: str | Path) -> dict[str, np.ndarray]:
    """float32 tensors of a safetensors file as read-only views of one memory map.

    Nothing is copied: pages are read when first touched, so a query touches
    only the embedding rows of its own tokens out of the 250k-row vocabulary.
    """
    header, start = _safetensors_header(Path(path))
    # A plain ndarray view of the map: slicing np.memmap objects costs Python
    # overhead on every weight access of every query.
    raw = np.asarray(np.memmap(path, dtype=np.uint8, mode="r"))
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {t['dtype']}, not F32")
        begin, end = t["data_offsets"]
        out[name] = raw[start + begin:start + end].view(np.float32).reshape(t["shape"])
    return out


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """LayerNorm over the features of (features, tokens) activations."""
    mean = x.mean(axis=0, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=0, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight[:, None] + bias[:, None]


def _gelu(x: np.ndarray) -> np.ndarray:
    """The exact (erf) GELU that BERT uses, not the tanh approximation."""
    return 0.5 * x * (1.0 + erf(x / np.float32(np.sqrt(2.0))))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class NumpyBertEncoder:
    """``encode(texts)`` -> unit vectors, equal to ``SentenceTransformer(folder).encode(texts, normalize_embeddings=True)``.

    Texts are encoded one at a time, so there is no padding or attention mask
    to get wrong; that is the right trade for queries, not for bulk passages.
    Safe to call from several threads: nothing is mutated after loading.
    """

    def __init__(self, folder: str | Path):
        from tokenizers import Tokenizer

        folder = Path(folder)
        reason = unsupported_reason(folder)
        if reason:
            raise UnsupportedModel(reason)
        config = _read_json(folder / "config.json")
        st_config = _sentence_bert_config(folder)
        self.dimension = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        self.max_tokens = min(int(st_config.get("max_seq_length") or config["max_position_embeddings"]),
                              int(config["max_position_embeddings"]))
        self.w = load_safetensors_mmap(folder / "model.safetensors")
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # Set once here, never per call: changing it while another thread encodes
        # is what makes a shared tokenizer raise "Already borrowed".
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_tokens)

    # Activations are kept transposed, one column per token: OpenBLAS multiplies
    # W (out x in) @ X (in x tokens) about 1.6x faster than X @ W.T when there
    # are only a few tokens, which is the whole cost of a query.
    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return self.w[name + ".weight"] @ x + self.w[name + ".bias"][:, None]

    def _layer(self, x: np.ndarray, i: int) -> np.ndarray:
        p = f"encoder.layer.{i}."
        d, n = x.shape
        h = d // self.heads

        def split(t):  # (d, n) -> (heads, h, n)
            return t.reshape(self.heads, h, n)

        q = split(self._linear(x, p + "attention.self.query"))
        k = split(self._linear(x, p + "attention.self.key"))
        v = split(self._linear(x, p + "attention.self.value"))
        attn = _softmax(q.transpose(0, 2, 1) @ k / np.float32(np.sqrt(h)))  # (heads, query, key)
        ctx = (v @ attn.transpose(0, 2, 1)).reshape(d, n)
        x = _layer_norm(self._linear(ctx, p + "attention.output.dense") + x,
                        self.w[p + "attention.output.LayerNorm.weight"],
                        self.w[p + "attention.output.LayerNorm.bias"], self.eps)
        ffn = self._linear(_gelu(self._linear(x, p + "intermediate.dense")), p + "output.dense")
        return _layer_norm(ffn + x, self.w[p + "output.LayerNorm.weight"],
                           self.w[p + "output.LayerNorm.bias"], self.eps)

    def token_ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids

    def _encode_one(self, text: str) -> np.ndarray:
        ids = np.asarray(self.token_ids(text), dtype=np.int64)
        w = self.w
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][: len(ids)]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(np.ascontiguousarray(x.T), w["embeddings.LayerNorm.weight"],
                        w["embeddings.LayerNorm.bias"], self.eps)
        for i in range(self.layers):
            x = self._layer(x, i)
        pooled = x.mean(axis=1)
        return pooled / max(float(np.linalg.norm(pooled)), 1e-12)

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self._encode_one(text)
        return out


def read_prompts(folder: str | Path) -> dict:
    """The named prompts sentence-transformers would read from the same folder."""
    path = Path(folder) / "config_sentence_transformers.json"
    try:
        return _read_json(path).get("prompts") or {}
    except (OSError, ValueError):
        return {}
