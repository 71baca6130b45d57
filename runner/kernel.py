"""Execute one notebook in a fresh kernel with a whole-notebook time limit (runs in a worker process)."""
from __future__ import annotations

import asyncio
import json
import os
import re
import time
from dataclasses import dataclass, field

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from runner import forked_kernel
from runner.outputs import DEFAULT_STREAM_LIMIT, cap_streams

PROBE_MARK = "__KB_PROBE__"
# Runs after the notebook, in the same kernel: reports what it actually used, not what exists.
PROBE = r"""
import json as _kb_json, sys as _kb_sys
_kb = {"device": "cpu", "versions": {}}
# A kernel forked from runner.forked_kernel's zygote holds some packages before any cell imports them.
_kb_pre, _kb_used = getattr(_kb_sys, "kb_preloaded", set()), getattr(_kb_sys, "kb_used", set())
for _m in ("torch", "tensorflow", "keras", "tf_keras", "numpy", "scipy", "sklearn", "xgboost", "matplotlib"):
    if _m in _kb_sys.modules and (_m not in _kb_pre or _m in _kb_used):
        _kb["versions"][_m] = str(getattr(_kb_sys.modules[_m], "__version__", "?"))
_t = _kb_sys.modules.get("torch") if "torch" in _kb["versions"] else None
if _t is not None and _t.cuda.is_available() and _t.cuda.is_initialized():
    _kb["device"] = _t.cuda.get_device_name(_t.cuda.current_device())
_tf = _kb_sys.modules.get("tensorflow")
if _kb["device"] == "cpu" and _tf is not None and _tf.config.list_logical_devices("GPU"):
    _kb["device"] = "GPU via TensorFlow"
print("__KB_PROBE__" + _kb_json.dumps(_kb))
"""
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class KernelResult:
    nb_json: str
    status: str  # ok | failed | timeout
    seconds: float
    device: str = "cpu"
    versions: dict = field(default_factory=dict)
    failed_cell: int | None = None
    failed_source: str | None = None
    traceback: str | None = None


def kernel_env(threads: int, pythonpath: str) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        env[var] = str(threads)  # workers share the cores instead of each taking all of them
    env["TF_NUM_INTEROP_THREADS"] = "1"
    env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"  # several notebooks may share one GPU
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    env["PYTHONPATH"] = pythonpath + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    return env


def _error_excerpt(cell) -> str:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            text = "\n".join(out.get("traceback", [])) or f"{out.get('ename')}: {out.get('evalue')}"
            return ANSI_RE.sub("", text)[-4000:]
    return ""


# A kernel that never came up (two processes racing for the same free port, a start-up crash on a
# loaded machine) says nothing about the notebook: it is started once more before the run is failed.
START_ATTEMPTS = 2


def execute_notebook(nb_json: str, cwd: str, timeout: float, threads: int, pythonpath: str,
                     kernel_log: str = os.devnull, stream_limit: int = DEFAULT_STREAM_LIMIT) -> KernelResult:
    for attempt in range(1, START_ATTEMPTS + 1):
        result, started = _execute_once(nb_json, cwd, timeout, threads, pythonpath, kernel_log, stream_limit,
                                        append_log=attempt > 1)
        if started or result.status == "ok":
            return result
    result.traceback = f"the kernel did not start ({START_ATTEMPTS} attempts): {result.traceback}"[-4000:]
    return result


def _execute_once(nb_json: str, cwd: str, timeout: float, threads: int, pythonpath: str, kernel_log: str,
                  stream_limit: int, append_log: bool) -> tuple[KernelResult, bool]:
    """One kernel, one pass over the notebook; also says whether the kernel came up at all."""
    nb = nbformat.reads(nb_json, as_version=4)
    kernel_name = nb.metadata.get("kernelspec", {}).get("name", "python3")
    # record_timing off: cell metadata stays exactly as read, so jupyter-cache hashes still match.
    # No per-cell limit: the whole-notebook limit below is the one that counts.
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    client = NotebookClient(nb, timeout=None, kernel_name=kernel_name, km=forked_kernel.kernel_manager(kernel_name, code),
                            resources={"metadata": {"path": cwd}}, record_timing=False, allow_errors=False,
                            startup_timeout=180)  # a loaded machine starts kernels slowly
    probe = nbformat.v4.new_code_cell(PROBE)
    state = {"index": None, "timed_out": False, "started": False}

    async def run_cells():
        for index, cell in enumerate(nb.cells):
            state["index"] = index
            await client.async_execute_cell(cell, index)
        state["index"] = None

    async def run_all():
        # The kernel's own stderr (start-up chatter, crash messages) goes to a log file, not the terminal.
        with open(kernel_log, "a" if append_log else "w") as log:
            async with client.async_setup_kernel(env=kernel_env(threads, pythonpath), stderr=log):
                state["started"] = True
                # The limit covers the notebook's cells, not the kernel's start-up on a loaded machine.
                cells = asyncio.ensure_future(run_cells())
                done, _ = await asyncio.wait({cells}, timeout=timeout)
                if not done:
                    # Not wait_for: a cancelled nbclient call may surface as DeadKernelError, not a timeout.
                    state["timed_out"] = True
                    cells.cancel()
                    await asyncio.gather(cells, return_exceptions=True)
                    return
                cells.result()  # re-raise a cell's error
                nb.cells.append(probe)  # nbclient writes results back by index, so the probe needs a slot
                try:
                    await client.async_execute_cell(probe, len(nb.cells) - 1)
                finally:
                    nb.cells.pop()

    start = time.perf_counter()
    result = KernelResult("", "ok", 0.0)
    try:
        asyncio.run(run_all())
    except CellExecutionError:
        result.status = "failed"
    except Exception as exc:  # noqa: BLE001 - a dead kernel, a bad kernelspec: report, don't crash the run
        result.status = "failed"
        result.traceback = f"{type(exc).__name__}: {exc}"[-4000:]
    finally:
        _kill_kernel(client)
    if state["timed_out"]:
        result.status = "timeout"
        result.traceback = f"the notebook did not finish within {timeout:.0f} s; its kernel was killed"
    result.seconds = time.perf_counter() - start
    if result.status != "ok" and state["index"] is not None:
        cell = nb.cells[state["index"]]
        result.failed_cell = state["index"]
        result.failed_source = cell.source[:2000]
        result.traceback = _error_excerpt(cell) or result.traceback
    for out in probe.get("outputs", []):
        for line in out.get("text", "").splitlines():
            if line.startswith(PROBE_MARK):
                info = json.loads(line[len(PROBE_MARK):])
                result.device, result.versions = info["device"], info["versions"]
    cap_streams(nb, stream_limit)  # here, before the notebook travels back to the parent process
    result.nb_json = nbformat.writes(nb)
    return result, state["started"]


def _kill_kernel(client) -> None:
    km = getattr(client, "km", None)
    if km is None:
        return
    try:
        if km.has_kernel:
            asyncio.run(km.shutdown_kernel(now=True))  # the timeout path cancelled the polite shutdown
    except Exception:  # noqa: BLE001 - already gone
        pass
