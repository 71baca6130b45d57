"""The NumPy query encoder: same vectors as sentence-transformers, and a query process without torch."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from search import numpy_bert
from search.evaluate import load_queries
from search.model import BUNDLED, DEFAULT_MODEL, Embedder
from tests.search_support import REPO_ROOT, model_cache, numpy_embedder, sample_index_root, shared_embedder

EDGE_CASES = [
    "x",
    "  leading and trailing spaces  ",
    "ＡＢＣ全角 tab\there 🤖 emoji",
    "混合精度 " * 300,  # longer than 512 tokens: both sides must truncate the same way
]


@pytest.fixture(scope="module")
def embedder():
    return numpy_embedder()


def test_numpy_queries_equal_sentence_transformers_queries(embedder):
    assert embedder.query_engine == "numpy"
    texts = [q["q"] for q in load_queries()] + EDGE_CASES
    ours = embedder.embed_queries(texts)
    theirs = embedder._encode(texts, embedder.query_prefix)  # the sentence-transformers path
    assert ours.shape == theirs.shape == (len(texts), 384)
    worst = int(np.abs(ours - theirs).max(axis=1).argmax())
    assert np.abs(ours - theirs).max() < 1e-5, texts[worst][:80]
    assert len(embedder._numpy.token_ids(embedder.query_prefix + EDGE_CASES[-1])) == 512


def test_memory_map_reader_equals_safetensors(tmp_path):
    from safetensors.numpy import load_file, save_file

    rng = np.random.default_rng(0)
    tensors = {"a.weight": rng.standard_normal((7, 5)).astype(np.float32),
               "b": rng.standard_normal(3).astype(np.float32),
               "scalarish": np.array([1.5], dtype=np.float32)}
    save_file(tensors, str(tmp_path / "m.safetensors"), metadata={"format": "pt"})
    ours = numpy_bert.load_safetensors_mmap(tmp_path / "m.safetensors")
    theirs = load_file(str(tmp_path / "m.safetensors"))
    assert sorted(ours) == sorted(theirs)
    for name in theirs:
        assert ours[name].shape == theirs[name].shape and np.array_equal(ours[name], theirs[name])
    save_file({"h": np.ones(4, np.float16)}, str(tmp_path / "h.safetensors"))
    with pytest.raises(ValueError, match="h.safetensors.*F16"):
        numpy_bert.load_safetensors_mmap(tmp_path / "h.safetensors")


def _model_folder_copy(tmp_path):
    """The bundled model's folder, configuration copied and weights linked (read-only)."""
    shared_embedder()  # materialised
    src = model_cache() / BUNDLED[DEFAULT_MODEL]
    dest = tmp_path / "model"
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("model.safetensors"))
    (dest / "model.safetensors").symlink_to(src / "model.safetensors")
    return dest


def _edit_json(path, **changes):
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize("change,reason", [
    (lambda d: _edit_json(d / "1_Pooling" / "config.json", pooling_mode_mean_tokens=False,
                          pooling_mode_cls_token=True), "not mean pooling"),
    (lambda d: _edit_json(d / "config.json", model_type="xlm-roberta"), "not 'bert'"),
    (lambda d: _edit_json(d / "config.json", hidden_act="gelu_new"), "exact GELU"),
    (lambda d: (d / "modules.json").write_text(json.dumps(
        json.loads((d / "modules.json").read_text())
        + [{"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"}])),
     "not Transformer -> Pooling"),
    (lambda d: (d / "tokenizer.json").unlink(), "no tokenizer.json"),
])
def test_folders_it_cannot_reproduce_are_named_and_left_to_sentence_transformers(tmp_path, change, reason):
    folder = _model_folder_copy(tmp_path)
    assert numpy_bert.unsupported_reason(folder) is None
    change(folder)
    assert reason in numpy_bert.unsupported_reason(folder)
    with pytest.raises(ValueError, match="numpy query engine cannot run"):
        Embedder(str(folder), query_engine="numpy")


def test_query_engine_can_be_chosen_and_bad_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="query engine 'torch' is not one of"):
        Embedder(str(_model_folder_copy(tmp_path)), query_engine="torch")
    assert Embedder(str(_model_folder_copy(tmp_path / "b")), device="cpu",
                    query_engine="sentence-transformers").query_engine == "sentence-transformers"


def test_a_query_process_never_imports_torch():
    shared_embedder()  # the model is exported (exporting needs torch; answering must not)
    # The cold-start budget depends on it; timing belongs to benchmarks/search_bench.py.
    code = ("import sys; from search.cli import main; "
            "rc = main(['--root', sys.argv[1], 'query', '感受野怎么计算', '--json']); "
            "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]; "
            "print('HEAVY', heavy); sys.exit(rc)")
    env = {**os.environ, "KB_SEARCH_CACHE": str(model_cache())}
    env.pop("KB_SEARCH_QUERY_ENGINE", None)
    env.pop("KB_SEARCH_MODEL", None)  # the index was built with the bundled model
    out = subprocess.run([sys.executable, "-c", code, str(sample_index_root())], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout
    assert json.loads(out.stdout[:out.stdout.rindex("HEAVY")])[0]["slug"] == "receptive-field"
