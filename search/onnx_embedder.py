"""Embedding with the exported ONNX model (``search.onnx_export``): onnxruntime + tokenizers.

The same model file and ``tokenizer.json`` the browser loads, so passage vectors built here and
query vectors made in the reader's browser come from one model (and agree to 1e-6). Also the
server's default: it starts in well under a second, with no torch import
(``benchmarks/search_bench.py`` prints its speed beside sentence-transformers').
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

from search.onnx_export import META_FILE, MODEL_FILE

BATCH = 16


class OnnxEmbedder:
    """Unit vectors from an exported folder; the interface of ``search.model.Embedder``."""

    query_engine = "onnx"

    def __init__(self, name: str, folder: Path, threads: int | None = None):
        import onnxruntime as ort
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
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or os.cpu_count() or 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.folder / MODEL_FILE), opts, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()  # one run at a time: on a few cores two gain nothing
        self.device = "cpu (onnxruntime, 8-bit weights)"

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=True)]

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Texts as given (prefix included) → unit vectors, batched by length to pad little."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        ids = self.token_ids(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        from tqdm import tqdm

        bar = tqdm(total=len(texts), desc="embedding passages", unit="chunk", disable=not progress or len(texts) < 64)
        with self._lock, bar:
            for start in range(0, len(order), BATCH):
                rows = order[start:start + BATCH]
                width = max(len(ids[i]) for i in rows)
                batch = np.zeros((len(rows), width), dtype=np.int64)
                mask = np.zeros((len(rows), width), dtype=np.int64)
                for r, i in enumerate(rows):
                    batch[r, :len(ids[i])] = ids[i]
                    mask[r, :len(ids[i])] = 1
                (vec,) = self.session.run([self.meta["output"]], {"input_ids": batch, "attention_mask": mask})
                out[rows] = vec
                bar.update(len(rows))
        return out

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.encode([self.query_prefix + t for t in texts])

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self.encode([self.passage_prefix + t for t in texts], progress=True)
