"""Run the notebooks as Ray tasks: a local Ray instance, or an existing cluster (``book execute --ray``).

Only the scheduling differs from the local engine: each notebook is one Ray task running the
local pool's own job function (``jobs.run_job`` → ``kernel.execute_notebook``, which enforces the
notebook's time limit), and every result comes back to the driver, which stores it exactly as
the local engine does. So the files written are the same.

* **Resources**: an article's front matter ``resources: {gpus: 1, cpus: 2, <custom>: N}`` becomes
  the task's ``num_gpus`` / ``num_cpus`` / ``resources`` (``memory`` in bytes too): Ray runs it only
  on a node that has them. A request no node of the cluster offers at all fails that notebook at
  once, with the reason, instead of waiting forever.
* **Lost workers**: a task whose worker or node dies (a crash, Ray's out-of-memory killer, a node
  leaving) is run once more (``max_retries=1``; Ray retries system failures only). A notebook
  whose cells fail is not a system failure: it comes back as a normal result, status ``failed``.
* **Nodes**: every node needs this checkout at the same path (a shared filesystem, or the same
  clone) and the same environment (``make setup``: the locked requirements, then this project): the task runs the
  kernel in the article's folder there. Kernel logs travel back to the driver with the result.

``import ray`` happens here only, so the local engine never imports it.
"""
from __future__ import annotations

import logging
import math
import os
import socket
import tempfile
from pathlib import Path
from typing import Iterator

from kb.cli import InputError
from kb.files import atomic_write_text
from runner.jobs import failed_result, run_job

LOCAL = "local"  # --ray without an address: start a Ray instance on this machine
# Front-matter names → Ray's task options and the cluster's resource names; any other name is a
# custom resource of the same name (``ray start --resources='{"big_disk": 1}'``).
OPTION = {"cpus": "num_cpus", "CPU": "num_cpus", "gpus": "num_gpus", "GPU": "num_gpus", "memory": "memory"}
CLUSTER_NAME = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}


def _describe(resources: dict) -> str:
    return ", ".join(f"{name}: {amount:g}" for name, amount in resources.items())


def run_on_node(job: dict) -> dict:
    """The Ray task: the local pool's job function, on whichever node Ray picked.

    The kernel log is written to a temporary file there and returned as text, since the driver's
    log path need not exist on that node.
    """
    host = socket.gethostname()
    if not os.path.isdir(job["cwd"]):
        return failed_result(job, f"the project is not at {job['cwd']} on Ray node {host}: every node needs this "
                            f"checkout at the same path (a shared filesystem or the same clone)", host)
    with tempfile.TemporaryDirectory(prefix="kb-ray-") as tmp:
        log = os.path.join(tmp, "kernel.log")
        out = run_job({**job, "kernel_log": log})
        out["kernel_log_text"] = Path(log).read_text(encoding="utf-8", errors="replace") if os.path.exists(log) else ""
    return {**out, "kernel_log": job["kernel_log"], "host": host}


class Cluster:
    """A connection to Ray for one ``book execute`` run."""

    def __init__(self, address: str, started: bool):
        self.address = address
        self.started = started  # we called ray.init, so close() calls ray.shutdown()

    @classmethod
    def connect(cls, address: str | None, num_cpus: int | None = None) -> "Cluster":
        """Start a local Ray instance (``address`` None or ``local``; ``num_cpus`` CPUs, default the
        core count) or join the cluster at ``address`` (``auto``, ``ray://host:10001``, ``host:6379``).

        A Ray already initialised in this process (a test, a benchmark, a notebook) is used as it is.
        """
        import ray

        address = address or LOCAL
        if ray.is_initialized():
            return cls(address, started=False)
        kw = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        if address == LOCAL:
            kw["num_cpus"] = num_cpus or os.cpu_count() or 1
        try:
            ray.init(address=address, **kw)
        except Exception as exc:  # noqa: BLE001 - unreachable cluster, bad address: bad input, nothing ran
            raise InputError("--ray", f"cannot start or join Ray at {address!r}: {type(exc).__name__}: {exc}") from None
        return cls(address, started=True)

    @property
    def local(self) -> bool:
        return self.address == LOCAL

    def describe(self) -> str:
        import ray

        cpus = ray.cluster_resources().get("CPU", 0)
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        return f"Ray {self.address}: {nodes} node{'s' * (nodes != 1)}, {cpus:g} CPUs"

    def close(self) -> None:
        import ray

        if self.started and ray.is_initialized():
            ray.shutdown()
            self.started = False

    @staticmethod
    def _node_totals() -> list[dict]:
        """Each live node's resources (its totals, not what is free now)."""
        import ray

        return [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]

    def _options(self, job: dict) -> tuple[dict, dict]:
        """Ray task options for ``job`` and the cluster resources it needs (default: one CPU)."""
        wanted = job.get("resources") or {}
        options = {"num_cpus": 1, "max_retries": 1, "retry_exceptions": False}
        demand = {"CPU": 1.0}
        for name, amount in wanted.items():
            if name in OPTION:
                options[OPTION[name]] = amount
                demand[CLUSTER_NAME[OPTION[name]]] = amount
            else:
                options.setdefault("resources", {})[name] = amount
                demand[name] = amount
        return options, demand

    def execute_all(self, todo: list[dict], max_in_flight: int | None = None) -> Iterator[dict]:
        """Yield each job's result as it finishes, like ``engine.execute_all``.

        ``max_in_flight`` caps the notebooks submitted at once (``--jobs`` on a cluster); by default
        all are submitted and Ray runs as many as the cluster's CPUs allow.
        """
        import ray
        from ray import exceptions as rex

        lost = (rex.WorkerCrashedError, rex.NodeDiedError, rex.LocalRayletDiedError, rex.OutOfMemoryError,
                rex.ObjectLostError)
        task = ray.remote(run_on_node)
        queue, nodes = [], self._node_totals()
        for job in todo:
            options, demand = self._options(job)
            if not any(all(node.get(name, 0) >= amount for name, amount in demand.items()) for node in nodes):
                yield failed_result(job, f"no node of the Ray cluster offers {_describe(job['resources'])} "
                                   f"(asked for by the front matter's `resources`); the notebook was not run")
                continue
            cpus = options["num_cpus"]
            # Threads per kernel: a local instance shares the cores like the local pool; a cluster
            # task gets the CPUs it reserved.
            threads = job["threads"] * max(1, math.floor(cpus)) if self.local else max(1, math.floor(cpus))
            queue.append(({**job, "threads": threads}, options))
        pending: dict = {}
        queue.reverse()
        while queue or pending:
            while queue and (max_in_flight is None or len(pending) < max_in_flight):
                job, options = queue.pop()
                try:
                    pending[task.options(**options).remote(job)] = job
                except (ValueError, TypeError) as exc:  # options Ray refuses (e.g. a reserved resource name)
                    yield failed_result(job, f"Ray refused the front matter's `resources` "
                                       f"({_describe(job['resources'])}): {exc}")
            if not pending:
                continue
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                job = pending.pop(ref)
                try:
                    out = ray.get(ref)
                except rex.RayTaskError as exc:  # the task itself raised (e.g. this project is not importable there)
                    yield failed_result(job, f"the Ray task running this notebook raised: {exc}"[-4000:])
                    continue
                except lost as exc:  # a system failure, already retried once by Ray (max_retries=1)
                    yield failed_result(job, f"the Ray worker running this notebook was lost ({type(exc).__name__}), "
                                       f"also on its one retry: {exc}"[-4000:])
                    continue
                except rex.RayError as exc:  # e.g. unschedulable, a runtime environment that failed to set up
                    yield failed_result(job, f"Ray could not run this notebook ({type(exc).__name__}): {exc}"[-4000:])
                    continue
                text = out.pop("kernel_log_text", "")
                atomic_write_text(Path(out["kernel_log"]), text)
                yield out
