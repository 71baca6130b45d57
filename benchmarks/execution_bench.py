"""Execution benchmark: serial vs parallel wall time over all articles, and the warm no-op rebuild.

    python benchmarks/execution_bench.py [--root DIR] [--jobs N] [--skip-serial]
    python benchmarks/execution_bench.py --ray [--root DIR] [--jobs N]

Prints, from one run on this machine:
  * wall time to execute every notebook with 1 worker and with N workers (forced), and the ratio;
  * the warm no-op rebuild: `book execute` with everything cached + `book build` with nothing changed.

With ``--ray``, instead: every notebook forced through the local pool and then through a local
Ray instance of N CPUs (`book execute --ray`), side by side: both wall times, their ratio, Ray's
start-up time (`ray.init`) apart from its run, and its overhead per notebook.
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


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} cores"


def ray_vs_local(root: Path, jobs: int) -> None:
    import ray

    from runner.ray_engine import LOCAL, Cluster

    print(f"before: {load()}")
    local, t_local = timed(engine.run, root, force=True, jobs=jobs)
    print(f"local pool ({jobs} workers):  {t_local:7.1f} s wall  ({sum(r.seconds for r in local):.1f} s summed "
          f"notebook time)")
    cluster, t_start = timed(Cluster.connect, LOCAL, num_cpus=jobs)
    try:
        # Ray is up: engine.run uses it as it is, so the run's wall time leaves the start-up out.
        on_ray, t_ray = timed(engine.run, root, force=True, jobs=jobs, ray=LOCAL)
    finally:
        _, t_stop = timed(cluster.close)
    ran = sum(r.status != "no-code" for r in on_ray)
    print(f"Ray (local, {jobs} CPUs):     {t_ray:7.1f} s wall  ({sum(r.seconds for r in on_ray):.1f} s summed "
          f"notebook time); start-up {t_start:.1f} s, shutdown {t_stop:.1f} s, apart")
    print(f"ratio Ray/local: {t_ray / t_local:.2f}x run only, {(t_start + t_ray) / t_local:.2f}x with start-up "
          f"(target <= 1.3x)")
    print(f"Ray overhead per notebook: {(t_ray - t_local) / ran:+.2f} s run only, "
          f"{(t_start + t_ray - t_local) / ran:+.2f} s with start-up ({ran} notebooks with code)")
    statuses = {r.slug: r.status for r in local}, {r.slug: r.status for r in on_ray}
    differ = sorted(s for s in statuses[0] if statuses[0][s] != statuses[1][s])
    if differ:
        print(f"note: status differs between the engines for {', '.join(differ)}")
    failed = sorted(r.slug for r in local + on_ray if r.failed)
    if failed:
        print(f"note: did not pass: {', '.join(failed)}")
    print(f"after: {load()}")
    assert not ray.is_initialized()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=CHECKOUT)
    p.add_argument("--jobs", type=int, default=os.cpu_count())
    p.add_argument("--skip-serial", action="store_true", help="only the parallel run and the no-op rebuild")
    p.add_argument("--ray", action="store_true", help="compare the local pool with a local Ray instance instead")
    args = p.parse_args()
    root = args.root.resolve()
    if args.ray:
        return ray_vs_local(root, args.jobs)

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
