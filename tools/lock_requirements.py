"""Write the locked requirements from ``requirements/*.in`` with uv: every package pinned, with its hashes.

    python tools/lock_requirements.py [--upgrade] [--cpu-wheels URL_OR_FOLDER]

- ``requirements.txt``: the four uses together, what ``make setup`` (and so both README commands)
  installs: Linux x86-64, Python 3.11, PyTorch's CPU wheel.
- ``requirements/<use>.txt`` for ``runtime`` (ingest, search, the book), ``notebooks`` (what the
  articles import), ``dev`` (tests, lint, this tool) and ``engines`` (Ray): one use's packages at
  the versions ``requirements.txt`` has, for a job or a machine that needs only that.
- ``requirements/cuda.txt``: runtime and notebooks with PyPI's torch (CUDA libraries included), for
  a GPU machine.

Versions already locked are kept (uv prefers what the output file holds) unless ``--upgrade``.
To add a dependency: name it in the ``.in`` file of its use, run this, install ``requirements.txt``.
``--cpu-wheels``: where PyTorch's CPU wheels are, an index URL (default: PyTorch's) or a folder of
wheels (for a machine that reaches only PyPI but keeps those wheels on disk).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "requirements"
USES = ("runtime", "notebooks", "dev", "engines")
CUDA_USES = ("runtime", "notebooks")
PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# The oldest 3.11 every locked package supports; the platform of CI's runners and of `make`'s users.
PYTHON_VERSION = "3.11.5"
PLATFORM = "x86_64-manylinux_2_28"
COMMAND = "python tools/lock_requirements.py"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.M)


def canonical(name: str) -> str:
    """A package name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock_text: str) -> dict[str, str]:
    """name (canonical) → version, for every pin of a lock file."""
    return {canonical(name): version for name, version in PIN.findall(lock_text)}


def _compile(inputs: list[Path], output: Path, extra: list[str], upgrade: bool) -> None:
    cmd = [sys.executable, "-m", "uv", "pip", "compile", *map(str, inputs), "--output-file", str(output),
           "--generate-hashes", "--python-version", PYTHON_VERSION, "--python-platform", PLATFORM,
           "--custom-compile-command", COMMAND, "--quiet", *extra]
    if upgrade:
        cmd.append("--upgrade")
    subprocess.run(cmd, check=True, cwd=ROOT)


def _cpu_source(location: str) -> list[str]:
    # torch's CPU build (2.13.0+cpu) sorts above PyPI's 2.13.0; re-resolving torch means it is always
    # taken over a PyPI torch the output file may hold.
    if Path(location).is_dir():
        return ["--find-links", location, "--upgrade-package", "torch"]
    # PyTorch's index also serves copies of some PyPI packages: take each from wherever the best version is.
    return ["--extra-index-url", location, "--index-strategy", "unsafe-best-match", "--upgrade-package", "torch"]


def lock(cpu_wheels: str, upgrade: bool) -> None:
    cpu = _cpu_source(cpu_wheels)
    everything = ROOT / "requirements.txt"
    _compile([FOLDER / f"{use}.in" for use in USES], everything, cpu, upgrade)
    with tempfile.TemporaryDirectory() as tmp:
        locked = pins(everything.read_text(encoding="utf-8"))
        same = Path(tmp) / "same-versions.txt"
        same.write_text("".join(f"{n}=={v}\n" for n, v in locked.items()), encoding="utf-8")
        for use in USES:
            _compile([FOLDER / f"{use}.in"], FOLDER / f"{use}.txt", [*cpu, "--constraint", str(same)], False)
        # PyPI's torch at the same release: drop the CPU build's local label.
        cuda = Path(tmp) / "cuda-versions.txt"
        cuda.write_text("".join(f"{n}=={v.split('+')[0]}\n" for n, v in locked.items()), encoding="utf-8")
        _compile([FOLDER / f"{use}.in" for use in CUDA_USES], FOLDER / "cuda.txt", ["--constraint", str(cuda)], False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upgrade", action="store_true", help="newest versions the .in files allow")
    ap.add_argument("--cpu-wheels", default=PYTORCH_CPU_INDEX, metavar="URL_OR_FOLDER",
                    help=f"where PyTorch's CPU wheels are (default: {PYTORCH_CPU_INDEX})")
    args = ap.parse_args(argv)
    lock(args.cpu_wheels, args.upgrade)
    return 0


if __name__ == "__main__":
    sys.exit(main())
