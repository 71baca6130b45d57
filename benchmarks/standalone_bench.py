"""Every downloaded notebook run as a reader would: a fresh virtual environment holding only the
packages its first cell names, the notebook alone in an empty folder, no checkout on the path.

    python benchmarks/standalone_bench.py [--root DIR] [--only SLUG ...] [--venvs DIR] [--sizes-only]

Needs the executed notebooks (`python -m book execute`). Prints, per article: whether it ran, its
run time, the time to build its environment (shared by articles that name the same packages), and
its size against the executed notebook the site offered before; then the totals. ``--sizes-only``
prints the sizes without running anything (seconds instead of about ten minutes).
"""
from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from book.notebooks import notebook_path, write_notebooks  # noqa: E402
from ingest.store import load_articles  # noqa: E402
from kb import layout  # noqa: E402
from kb.layout import CHECKOUT  # noqa: E402
from tests.reader_support import run_as_reader  # noqa: E402


NOT_RUN = {"ok": False, "seconds": 0.0, "install_seconds": 0.0, "requirements": [], "error": None}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=CHECKOUT)
    ap.add_argument("--only", nargs="+", metavar="SLUG")
    ap.add_argument("--venvs", type=Path, default=None,
                    help="keep the environments here (default: a temporary folder, removed at the end)")
    ap.add_argument("--sizes-only", action="store_true", help="compare sizes only; run nothing")
    args = ap.parse_args()
    articles = load_articles(args.root)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        out = tmp / "notebooks"
        write_notebooks(args.root, articles, out)
        chosen = [a for a in articles if (out / notebook_path(a)).exists() and (not args.only or a.slug in args.only)]
        venvs = args.venvs or tmp / "venvs"
        rows, start = [], time.perf_counter()
        for a in tqdm(chosen, desc="sizes" if args.sizes_only else "as a reader", unit="nb"):
            result = (NOT_RUN if args.sizes_only
                      else run_as_reader(out / notebook_path(a), tmp / "run" / a.slug, venvs))
            before = layout.executed_notebook(args.root, a.path).stat().st_size
            after = (out / notebook_path(a)).stat().st_size
            rows.append((a.slug, result, before, after))
            if result is not NOT_RUN and not result["ok"]:
                tqdm.write(f"{a.slug}: FAILED\n{result['error']}")
        wall = time.perf_counter() - start
    print(f"\n{cpu_name()}, {platform.python_version()}, one notebook at a time")
    print(f"{'article':34} {'ran':4} {'run s':>6} {'env s':>6} {'size kB':>8} {'vs before':>9}")
    for slug, r, before, after in rows:
        ran = "-" if r is NOT_RUN else "ok" if r["ok"] else "FAIL"
        print(f"{slug:34} {ran:4} {r['seconds']:6.1f} {r['install_seconds']:6.1f} "
              f"{after / 1000:8.1f} {after / before - 1:+9.1%}")
    ok = sum(r["ok"] for _, r, _, _ in rows)
    growth = sorted(after / before - 1 for _, _, before, after in rows)
    if not args.sizes_only:
        print(f"{ok}/{len(rows)} ran in a fresh environment without the repository; {wall:.0f} s wall "
              f"(environments built: {len({tuple(r['requirements']) for _, r, _, _ in rows})})")
    print(f"size against the executed notebook: median {growth[len(growth) // 2]:+.1%}, max {growth[-1]:+.1%}; "
          f"{sum(g <= 0.15 for g in growth)}/{len(growth)} within +15%")
    print(f"total {sum(a for *_, a in rows) / 1e6:.2f} MB against {sum(b for *_, b, _ in rows) / 1e6:.2f} MB")
    return 0 if args.sizes_only or ok == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
