"""Bilingual semantic search over the knowledge base: embeddings, FAISS index, CLI, HTTP API.

Layers: ``model`` (which model, prefixes, loading) and ``e5_convert`` (the
bundled default's weights) feed ``chunks`` -> ``index`` (FAISS + sidecar,
incremental builds, related articles) -> ``query`` (grouped results), used by
``cli``, ``server`` and ``evaluate``.
"""
