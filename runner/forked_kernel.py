"""Kernels forked from a process that has already imported what the notebooks import.

A new ipykernel costs about 4 s of CPU before a notebook's first line runs, 3 of them importing
torch, numpy and matplotlib: over the 39 notebooks and their ~175 mutants that is about 14 minutes
of CPU, half of a mutation run. So each worker process keeps one *zygote*: a Python process that
imports ipykernel, numpy, torch and matplotlib once (not pyplot: the inline backend attaches only
when pyplot is imported inside a running kernel), then forks one child per kernel. The child
becomes the kernel, exactly as ``python -m ipykernel_launcher -f CONNECTION`` would (own session,
the notebook's folder as working directory and first ``sys.path`` entry, the kernel's environment,
stderr into the kernel log), and nothing a notebook does reaches the zygote or another notebook:
each kernel is still a process of its own, killed as a process group.

The zygote is started with the kernel environment of the first job (thread counts and
``PYTHONPATH`` are read at import); a job with another environment gets a new zygote. Linux only
(forking after these imports is not safe on macOS), ipykernel on the runner's own interpreter only;
any other kernel, or a zygote that failed to start, is launched the usual way. So is a notebook that
imports none of the preloaded packages (nor ``nbhelpers``, which imports them): a zygote costs what
one kernel importing torch costs, which such a notebook would never pay, and a short run of small
notebooks (the test suite's) would pay it in every worker.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid

from jupyter_client.provisioning import LocalProvisioner

PRELOAD = ("ipykernel.kernelapp", "numpy", "torch", "matplotlib")
LAUNCHER = ["-m", "ipykernel_launcher"]
# An import line naming a preloaded package or the notebooks' helpers (false positives cost nothing).
_USES_PRELOAD = re.compile(r"^[ \t]*(?:import|from)[ \t][^\n]*\b(?:torch|numpy|matplotlib|nbhelpers)\b", re.M)


# ---------------------------------------------------------------- in the zygote process
def serve() -> None:
    """Import ``PRELOAD``, then fork a kernel for each request line on stdin; answer its pid."""
    # Exited children are reaped at once: a kernel whose pid is gone has exited.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a notebook that needs it will say so itself
            pass
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                _become_kernel(request)
            finally:
                os._exit(1)
        sys.stdout.write(json.dumps({"pid": pid}) + "\n")
        sys.stdout.flush()


def _become_kernel(request: dict) -> None:
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the notebook waits for its own subprocesses
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    null = os.open(os.devnull, os.O_RDWR)
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(log, 2)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - the kernel's for its lifetime
    sys.path[0] = request["cwd"]  # as `python -m` sets it
    # The kernel exits when its parent goes (the zygote, which exits when its worker does), as
    # jupyter_client's launcher arranges with JPY_PARENT_PID: read by ipykernel at import, before
    # this fork, so it is given as an argument.
    argv = [*request["argv"], f"--IPKernelApp.parent_handle={os.getppid()}"]
    sys.argv = ["ipykernel_launcher", *argv]
    _record_imports()
    from ipykernel import kernelapp

    kernelapp.launch_new_instance(argv=argv)
    os._exit(0)


def _record_imports() -> None:
    """Which preloaded packages the notebook imports (``sys.kb_used``): the runner's probe reports
    the packages a notebook used, and a preloaded one is in ``sys.modules`` either way."""
    import builtins

    preloaded = {name.partition(".")[0] for name in PRELOAD}
    sys.kb_preloaded, sys.kb_used = preloaded, set()
    real = builtins.__import__

    def recording(name, globals=None, locals=None, fromlist=(), level=0):
        top = name.partition(".")[0]
        if level == 0 and top in preloaded:
            sys.kb_used.add(top)
        return real(name, globals, locals, fromlist, level)

    builtins.__import__ = recording


# ---------------------------------------------------------------- in the worker process
class ForkedProcess:
    """The part of ``subprocess.Popen`` a provisioner uses, for a kernel the zygote forked (not our
    child, so it is polled by pid)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode = -signal.SIGKILL  # its status went to the zygote
            except PermissionError:
                pass
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() > end:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.05)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class Zygote:
    def __init__(self, env: dict, log: str):
        self.env = env
        with open(log, "a") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", "from runner.forked_kernel import serve; serve()"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env,
                                         text=True, start_new_session=True)

    def fork(self, argv: list[str], cwd: str, env: dict, log: str) -> int:
        self.proc.stdin.write(json.dumps({"argv": argv, "cwd": cwd, "env": env, "log": log}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise OSError("the kernel zygote exited")
        return int(json.loads(line)["pid"])

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


_zygote: Zygote | None = None


def _zygote_for(env: dict, log: str) -> Zygote:
    global _zygote
    if _zygote is not None and (_zygote.env != env or _zygote.proc.poll() is not None):
        _zygote.close()
        _zygote = None
    if _zygote is None:
        _zygote = Zygote(env, log)
    return _zygote


class ForkedProvisioner(LocalProvisioner):
    """``LocalProvisioner`` whose kernel is forked by the worker's zygote; the usual launch when the
    command is not ipykernel's or the zygote cannot fork."""

    async def launch_kernel(self, cmd: list[str], **kwargs):
        # Only ipykernel on this very interpreter: another environment's kernel must start in it.
        if cmd[1:3] != LAUNCHER or os.path.realpath(cmd[0]) != os.path.realpath(sys.executable):
            return await super().launch_kernel(cmd, **kwargs)
        env = dict(kwargs.get("env") or os.environ)
        log = getattr(kwargs.get("stderr"), "name", os.devnull)
        cwd = str(kwargs.get("cwd") or os.getcwd())
        try:
            pid = await asyncio.get_running_loop().run_in_executor(
                None, lambda: _zygote_for(env, log).fork(cmd[3:], cwd, env, log))
        except (OSError, ValueError):
            return await super().launch_kernel(cmd, **kwargs)
        self.process = ForkedProcess(pid)
        self.pid = self.pgid = pid  # the child calls setsid(): its group is its pid
        self.cwd = cwd
        return self.connection_info


def supported() -> bool:
    return sys.platform == "linux" and os.environ.get("KB_FORKED_KERNELS", "1") != "0"


def uses_preloaded(code: str) -> bool:
    """Whether notebook ``code`` imports what the zygote preloads (see the module docstring)."""
    return _USES_PRELOAD.search(code) is not None


def kernel_manager(kernel_name: str, code: str):
    """An ``AsyncKernelManager`` for ``kernel_name`` whose kernels come from the zygote (Linux, and
    ``code`` imports what it preloads), or None for nbclient's usual one."""
    if not supported() or not uses_preloaded(code):
        return None
    from jupyter_client.manager import AsyncKernelManager

    km = AsyncKernelManager(kernel_name=kernel_name)
    try:
        spec = km.kernel_spec
    except Exception:  # noqa: BLE001 - no such kernel: nbclient reports it as it always does
        return None
    km.kernel_id = str(uuid.uuid4())
    km.provisioner = ForkedProvisioner(kernel_id=km.kernel_id, kernel_spec=spec, parent=km)
    return km
