"""Bilingual search over the knowledge base: index, ranking, serving and evaluation.

``chunks`` (what an article is cut into) -> ``index`` (FAISS vectors + sidecar, incremental
builds, related articles) and ``lexical`` (BM25) -> ``ranking`` (the fusion steps the browser
repeats) -> ``query`` (grouped results, snippets) -> ``server`` (HTTP) and ``browser_export``
(what the static site's search loads); ``evaluate`` scores labelled queries; ``cli`` is
``python -m search``. Vectors come from the ``embedding`` package.
"""
