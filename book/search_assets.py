"""Put the in-browser search into the built site: the data ``python -m search build`` exported
(``_build/search/browser/``) and the runtime vendored from npm (``node_modules``, pinned in
``package-lock.json``), under ``_static/kb-search/``, beside the page code from ``book/_static``.

Nothing is loaded from a CDN: the site works wherever it is copied. Either part missing leaves the
site working: the search page then says so and answers with keyword results (or Sphinx's search).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from book.repository import new_issue_url, repository
from kb import layout
from kb.files import atomic_copy, atomic_write_text, json_text, read_json

# (file under node_modules, its name in _static/kb-search/vendor/)
VENDOR = (
    ("@huggingface/tokenizers/dist/tokenizers.min.mjs", "tokenizers.min.mjs"),
    ("@huggingface/tokenizers/LICENSE", "LICENSE.tokenizers"),
    # The plain wasm build (14 MB), not the asyncify one (27 MB) that transformers.js would ask for:
    # we call onnxruntime-web ourselves, and single-threaded inference needs nothing more.
    ("onnxruntime-web/dist/ort.wasm.min.mjs", "ort.wasm.min.mjs"),
    ("onnxruntime-web/dist/ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.mjs"),
    ("onnxruntime-web/dist/ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.wasm"),
)
PACKAGES = ("@huggingface/tokenizers", "onnxruntime-web")  # named, with version and licence, in vendor/NOTICE.txt
SUBDIR = Path("_static") / "kb-search"
SITE_FILE = "site.json"


def install(root: Path, outdir: Path) -> list[str]:
    """Copy what exists; returns one line per missing part (empty when everything is there)."""
    root, target = Path(root), Path(outdir) / SUBDIR
    missing = []
    data = layout.browser_search_dir(root)
    if (data / "meta.json").exists():
        wanted = {p.relative_to(data) for p in data.rglob("*") if p.is_file()}
        for rel in sorted(wanted):
            atomic_copy(data / rel, target / "data" / rel, if_changed=True)
        # Pieces of an earlier build (another bucket or list count) would sit there unread.
        for old in [p for p in (target / "data").rglob("*") if p.is_file() and p.relative_to(target / "data") not in wanted]:
            old.unlink()
    else:
        shutil.rmtree(target / "data", ignore_errors=True)
        missing.append(f"{data}: no exported search data (run `python -m search build`); "
                       "the site's search page answers with Sphinx's keyword search")
    modules = root / "node_modules"
    for rel, name in VENDOR:
        src = modules / rel
        if src.exists():
            atomic_copy(src, target / "vendor" / name, if_changed=True)
        else:
            missing.append(f"{src}: missing (run `npm ci --ignore-scripts`); the search page answers with "
                           "keyword results only")
    # The page links "request an article" to the repository's issue form, when one is configured;
    # the file exists either way, so the page's request for it never 404s.
    atomic_write_text(target / SITE_FILE, json_text({"new_issue_url": new_issue_url(repository(root))}))
    notice = []
    for package in PACKAGES:
        meta = read_json(modules / package / "package.json") or {}
        if meta:
            notice.append(f"{meta.get('name')} {meta.get('version')} ({meta.get('license')}): {meta.get('homepage', '')}")
    if notice:
        (target / "vendor").mkdir(parents=True, exist_ok=True)
        atomic_write_text(target / "vendor" / "NOTICE.txt", "Vendored from npm (package-lock.json pins them):\n"
                          + "\n".join(notice) + "\n")
    return missing
