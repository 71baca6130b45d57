"""Execution benchmark: serial vs parallel wall time over all articles, and the warm no-op rebuild.

    python benchmarks/execution_bench.py [--root DIR] [--jobs N] [--skip-serial]

Prints, from one run on this machine:
  * wall time to execute every notebook with 1 worker and with N workers (forced), and the ratio;
  * the warm no-op rebuild: `book execute` with everything cached + `book build` with nothing changed.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from book.site import build_site
from kb.layout import CHECKOUT
from runner import engine

def timed(fn, *a, **kw):
    start = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=CHECKOUT)
    p.add_argument("--jobs", type=int, default=os.cpu_count())
    p.add_argument("--skip-serial", action="store_true", help="only the parallel run and the no-op rebuild")
    args = p.parse_args()
    root = args.root.resolve()

    results = {}
    if not args.skip_serial:
        recs, results["serial"] = timed(engine.run, root, force=True, jobs=1)
        kernel_seconds = sum(r.seconds for r in recs)
        print(f"serial   (1 worker):  {results['serial']:7.1f} s wall  ({kernel_seconds:.1f} s summed notebook time)")
    recs, results["parallel"] = timed(engine.run, root, force=True, jobs=args.jobs)
    print(f"parallel ({args.jobs} workers): {results['parallel']:7.1f} s wall")
    if "serial" in results:
        print(f"speed-up serial/parallel: {results['serial'] / results['parallel']:.2f}x")
    failed = [r.slug for r in recs if r.status != "ok"]
    if failed:
        print(f"note: {len(failed)} notebook(s) did not pass: {', '.join(failed)}")

    build_site(root, quiet=True)  # bring the site up to date first, so the next build is a true no-op
    _, t_exec = timed(engine.run, root, progress=False)
    (status, _), t_build = timed(build_site, root, quiet=True)
    print(f"warm no-op rebuild: execute {t_exec:.1f} s + build {t_build:.1f} s = {t_exec + t_build:.1f} s "
          f"(target < 60 s){'' if status == 0 else '  [build failed]'}")


if __name__ == "__main__":
    main()
