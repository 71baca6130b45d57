"""Embedding with the exported ONNX model (``search.onnx_export``): onnxruntime, OpenVINO, tokenizers.

The same model file and ``tokenizer.json`` the browser loads, so passage vectors built here and
query vectors made in the reader's browser come from one model. Also the server's default: it
starts in well under a second, with no torch import.

One model file, ``model.onnx`` (int8 weights, ``search.onnx_quantize``), run two ways:
- queries by onnxruntime with the browser's fp32 arithmetic, so a query's vector here and in the
  browser agree to 1e-6 and the server ranks as the page does;
- passages, embedded by the hundred at build time, by OpenVINO (``OpenVinoPassages``), which reads
  the int8 weights as compressed weights and computes the products in int8, activations quantized
  in groups of 128 as they come, the rest in bfloat16 where the CPU has it: about 4x
  sentence-transformers' fp32 rate here (onnxruntime's own int8 kernels reached 3x), vectors
  within cosine 0.9996 of the fp32 ones.
``benchmarks/browser_search_bench.py`` prints the rates side by side.
"""
from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import numpy as np

from search.onnx_export import META_FILE, MODEL_FILE

BATCH = 8  # rows per run, sorted by length; 8 ran 3-7% faster than 16 here (OpenVINO; 2-9% with onnxruntime)


class OnnxEmbedder:
    """Unit vectors from an exported folder; the interface of ``search.model.Embedder``."""

    query_engine = "onnx"

    def __init__(self, name: str, folder: Path, threads: int | None = None):
        from tokenizers import Tokenizer

        self.name, self.folder = name, Path(folder)
        self.meta = json.loads((self.folder / META_FILE).read_text(encoding="utf-8"))
        self.dimension = int(self.meta["dimension"])
        prompts = self.meta.get("prompts") or {}
        from search.model import prefixes_for

        self.query_prefix, self.passage_prefix = prefixes_for(self.meta["source"], prompts)
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(int(self.meta.get("max_tokens", 512)))
        self._threads = threads or os.cpu_count() or 1
        self.session = self._session(str(self.folder / MODEL_FILE))
        self._passage_session = None  # made on first use: the server never embeds passages
        self._lock = threading.Lock()  # one run at a time: on a few cores two gain nothing
        self.device = "cpu (onnxruntime, 8-bit weights)"

    def _session(self, model):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self._threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])

    def passage_session(self):
        if self._passage_session is None:
            try:
                self._passage_session = OpenVinoPassages(self.folder / MODEL_FILE, self._threads)
            except ImportError:  # same vectors to 0.9996 from the query session, at a third of the rate
                print("search: openvino is not installed; passages are embedded by onnxruntime in fp32 (slower)",
                      file=sys.stderr)
                self._passage_session = self.session
        return self._passage_session

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=True)]

    def encode(self, texts: list[str], progress: bool = False, session=None) -> np.ndarray:
        """Texts as given (prefix included) → unit vectors, batched by length to pad little;
        by the query session unless another is given."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        ids = self.token_ids(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        from tqdm import tqdm

        bar = tqdm(total=len(texts), desc="embedding passages", unit="chunk", disable=not progress or len(texts) < 64)
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

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.encode([self.query_prefix + t for t in texts])

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self.encode([self.passage_prefix + t for t in texts], progress=True,
                           session=self.passage_session() if texts else None)


class OpenVinoPassages:
    """``model.onnx`` compiled by OpenVINO for throughput, with ``session.run``'s interface.

    Its ``Cast(int8) → Mul(scale) → MatMul`` products are what OpenVINO calls compressed weights:
    with ``DYNAMIC_QUANTIZATION_GROUP_SIZE`` it quantizes each product's activations per group of
    ``GROUP`` values at run time and multiplies in int8. Group 128 measured: cosine 0.9996 to the
    fp32 vectors at 3.7x sentence-transformers (groups of 64: 0.9997 at 3.2x; 384: 0.9992 at 3.7x).
    On a CPU without int8 dot products or bfloat16 the hints are ignored and it computes in fp32.
    """

    GROUP = 128

    def __init__(self, path: Path, threads: int):
        import openvino as ov

        self.model = ov.Core().compile_model(str(path), "CPU", {
            "DYNAMIC_QUANTIZATION_GROUP_SIZE": str(self.GROUP), "INFERENCE_PRECISION_HINT": "bf16",
            "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads})
        self.request = self.model.create_infer_request()

    def run(self, outputs: list[str], feeds: dict) -> list[np.ndarray]:
        result = self.request.infer(feeds)
        return [np.asarray(result[self.model.output(name)]) for name in outputs]
