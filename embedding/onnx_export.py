"""The shipped form of the model: a sentence-transformers BERT-family folder exported to ONNX,
its vocabulary trimmed to what Chinese and English text needs, its weights stored in 4 bits where
the source has them (the bundled model: every product and the word embeddings), else in 8
(``embedding.quantize``).

The one exported file embeds passages at build time and queries on the server
(``embedding.runtime``: onnxruntime) and in the reader's browser (onnxruntime-web), so the shipped
vectors and the browser's query vectors come from the same weights. Pooling and normalisation are
part of the graph: its one output, ``sentence_embedding``, is the unit vector sentence-transformers
returns.

Trimming keeps, of the Unigram pieces: the special tokens, every single-character piece (so any
text still tokenizes, character by character at worst), every piece with a CJK character, and the
``ascii_pieces`` ASCII pieces with the highest unigram scores; the embedding matrix keeps the same
rows. Everything else of ``tokenizer.json`` (normaliser, pre-tokenizer, template) is kept as it is.

The result is cached under the search cache, keyed by the source folder and these settings:

    <cache>/<name>-onnx-<key>/model.onnx, tokenizer.json, tokenizer_config.json, kb_onnx.json

and a new export removes the exports of the same source and settings it replaces.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from embedding.quantize import quantize
from embedding.source import ModelError, pooling, read_prompts
from kb.files import atomic_folder, write_json
from kb.text import is_cjk

EXPORT_VERSION = 9  # bump when the exported graph or the trimming changes
# Chosen on the hard set's dev half: 25k, 20k, 15k and 10k ASCII pieces gave hybrid MRR (en + zh)
# 1.914, 1.909, 1.929, 1.929; 15k keeps more words whole than 10k and ships 2.2 MB less than 25k.
DEFAULT_ASCII_PIECES = 15_000
OPSET = 17
META_FILE = "kb_onnx.json"
MODEL_FILE = "model.onnx"
OUTPUT = "sentence_embedding"


def kept_piece_ids(pieces: list, special_ids: set[int], ascii_pieces: int) -> list[int]:
    """Ids (ascending) of the Unigram pieces to keep; see the module docstring for the rule."""
    keep, ascii_ranked = set(special_ids), []
    for i, (piece, score) in enumerate(pieces):
        if i in keep:
            continue  # a special token: kept, and not one of the ASCII slots
        bare = piece.lstrip("\u2581")
        if len(bare) <= 1 or any(is_cjk(c, text_ranges=True) for c in bare):
            keep.add(i)
        elif piece.isascii() or bare.isascii():
            ascii_ranked.append((-score, i))
    ascii_ranked.sort()
    keep.update(i for _, i in ascii_ranked[:ascii_pieces])
    return sorted(keep)


def trim_tokenizer(tok: dict, keep: list[int]) -> dict:
    """``tokenizer.json`` with only the ``keep`` pieces, every id renumbered."""
    if tok.get("model", {}).get("type") != "Unigram":
        raise ModelError(f"only Unigram (SentencePiece) vocabularies are trimmed; this one is "
                          f"{tok.get('model', {}).get('type')!r} (export it with ascii_pieces=None)")
    new_id = {old: new for new, old in enumerate(keep)}
    out = json.loads(json.dumps(tok))
    model = out["model"]
    model["vocab"] = [tok["model"]["vocab"][i] for i in keep]
    if model.get("unk_id") is not None:
        model["unk_id"] = new_id[model["unk_id"]]
    for added in out.get("added_tokens", []):
        added["id"] = new_id[added["id"]]
    post = out.get("post_processor") or {}
    for proc in [post] + list(post.get("processors", [])):
        for special in (proc.get("special_tokens") or {}).values():
            special["ids"] = [new_id[i] for i in special["ids"]]
    return out


def _source_identity(folder: Path) -> dict:
    """What the export depends on in the source folder: every file's size, and the content of the
    small ones (configs, tokenizer); not mtimes, so the same model in another cache gets one key."""
    out = {}
    for p in sorted(q for q in folder.rglob("*") if q.is_file()):
        size = p.stat().st_size
        digest = hashlib.sha256(p.read_bytes()).hexdigest()[:16] if size < 32 << 20 else ""
        out[str(p.relative_to(folder))] = [size, digest]
    return out


def export_key(folder: Path, ascii_pieces: int | None) -> str:
    blob = json.dumps({"v": EXPORT_VERSION, "opset": OPSET, "ascii": ascii_pieces,
                       "source": _source_identity(folder)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def exported_folder(cache: Path, name: str, folder: Path, ascii_pieces: int | None) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name.strip("/").split("/")[-1])
    return cache / f"{safe}-onnx-{export_key(folder, ascii_pieces)}"


def prune_stale(dest: Path) -> list[Path]:
    """Remove the exports ``dest`` replaces: folders beside it of the same source and settings
    under another key (the source changed, or ``EXPORT_VERSION``), so the cache does not grow by
    25-45 MB with every change. Exports of other sources or settings are left alone."""
    def meta(folder: Path) -> dict:
        try:
            return json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    mine = meta(dest)
    same = {k: mine.get(k) for k in ("source", "ascii_pieces")}
    stale = [p for p in dest.parent.glob(dest.name.split("-onnx-", 1)[0] + "-onnx-*")
             if p.is_dir() and p != dest and (p / META_FILE).exists()
             and {k: meta(p).get(k) for k in same} == same]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return stale


def export(folder: str | Path, dest: Path, ascii_pieces: int | None = DEFAULT_ASCII_PIECES,
           progress: bool = True) -> Path:
    """Export ``folder`` (a sentence-transformers BERT-family model) into ``dest``; returns ``dest``.

    ``ascii_pieces`` None keeps the whole vocabulary. Written whole (``kb.files.atomic_folder``),
    so ``dest`` is either complete or absent.
    """
    folder = Path(folder)
    if (dest / META_FILE).exists():
        return dest
    try:
        import onnx  # noqa: F401 - torch.onnx.export needs it; fail early with a clear message
        import torch
        from tqdm import tqdm
        from transformers import AutoModel
    except ImportError as exc:
        raise ModelError(f"exporting needs torch, onnx, onnxruntime and transformers: {exc}") from exc
    if not (folder / "tokenizer.json").exists():
        raise ModelError(f"{folder}: no tokenizer.json (only fast-tokenizer models are exported)")
    pooling_mode, normalise = pooling(folder)
    tok = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    steps = tqdm(total=4, desc=f"export {folder.name} → ONNX, 4/8-bit weights", unit="step", disable=not progress)
    try:
        model = AutoModel.from_pretrained(str(folder), attn_implementation="eager")
    except Exception as exc:  # noqa: BLE001 - any unloadable folder is the same bad input
        raise ModelError(f"{folder}: transformers cannot load it: {type(exc).__name__}: {exc}") from exc
    model.eval()
    if ascii_pieces is not None and tok.get("model", {}).get("type") == "Unigram":
        specials = {t["id"] for t in tok.get("added_tokens", [])}
        keep = kept_piece_ids(tok["model"]["vocab"], specials, ascii_pieces)
        tok = trim_tokenizer(tok, keep)
        emb = model.get_input_embeddings()
        rows = torch.nn.Embedding(len(keep), emb.embedding_dim, padding_idx=None)
        rows.weight.data = emb.weight.data[torch.tensor(keep)].clone()
        model.set_input_embeddings(rows)
        model.config.vocab_size = len(keep)
    steps.update()

    class Encoder(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            h = self.inner(input_ids=input_ids, attention_mask=attention_mask,
                           token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
            if pooling_mode == "cls_token":
                pooled = h[:, 0]
            else:
                m = attention_mask.unsqueeze(-1).to(h.dtype)
                pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1) if normalise else pooled

    def fill(tmp: Path) -> None:
        ids = torch.tensor([[0, 5, 6, 2]], dtype=torch.long)
        fp32 = tmp / "model-fp32.onnx"
        try:
            with torch.no_grad():
                torch.onnx.export(Encoder(model), (ids, torch.ones_like(ids)), str(fp32), dynamo=False,
                                  opset_version=OPSET, input_names=["input_ids", "attention_mask"],
                                  output_names=[OUTPUT],
                                  dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                                "attention_mask": {0: "batch", 1: "tokens"}, OUTPUT: {0: "batch"}})
        except Exception as exc:  # noqa: BLE001 - an architecture the exporter cannot trace
            raise ModelError(f"{folder}: torch.onnx.export failed: {type(exc).__name__}: {exc}"[:2000]) from exc
        steps.update()
        quantize(fp32, tmp / MODEL_FILE)
        for extra in tmp.glob("model-fp32.onnx*"):
            extra.unlink()
        steps.update()
        write_json(tmp / "tokenizer.json", tok, indent=None)
        cfg_src = folder / "tokenizer_config.json"
        cfg = json.loads(cfg_src.read_text(encoding="utf-8")) if cfg_src.exists() else {}
        write_json(tmp / "tokenizer_config.json", cfg, indent=2)
        write_json(tmp / META_FILE, {
            "export_version": EXPORT_VERSION, "source": str(folder), "dimension": int(model.config.hidden_size),
            "vocab": len(tok["model"]["vocab"]) if "vocab" in tok.get("model", {}) else None,
            "ascii_pieces": ascii_pieces, "pooling": pooling_mode, "normalised": normalise,
            "max_tokens": int(min(cfg.get("model_max_length", 512), model.config.max_position_embeddings)),
            "prompts": read_prompts(folder), "input_names": ["input_ids", "attention_mask"], "output": OUTPUT,
        }, indent=2)
        steps.update()

    with steps:
        atomic_folder(dest, fill)
    prune_stale(dest)
    return dest
