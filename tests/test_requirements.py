"""The locks ``tools/lock_requirements.py`` writes: every package pinned with hashes, one version per
package across the uses, no CUDA package where PyTorch's CPU wheel is meant, and this environment
installed as locked."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import re

import pytest
import yaml

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("lock_requirements", REPO / "tools" / "lock_requirements.py")
lock_requirements = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lock_requirements)

FOLDER = REPO / "requirements"
CPU_LOCKS = [REPO / "requirements.txt", *(FOLDER / f"{use}.txt" for use in lock_requirements.USES)]
CUDA_LOCK = FOLDER / "cuda.txt"
CUDA_PACKAGE = re.compile(r"^(nvidia-|triton$)")


def direct(use: str) -> set[str]:
    lines = (FOLDER / f"{use}.in").read_text(encoding="utf-8").splitlines()
    return {lock_requirements.canonical(re.split(r"[=<>!~ ;\[]", line, maxsplit=1)[0]) for line in lines
            if line.strip() and not line.startswith("#")}


def entries(path) -> dict[str, list[str]]:
    """name → the hashes of its pin, for every pin of a lock file."""
    out, current = {}, None
    for line in path.read_text(encoding="utf-8").splitlines():
        pin = lock_requirements.PIN.match(line)
        if pin:
            current = lock_requirements.canonical(pin.group(1))
            out[current] = []
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", line)
        if hashes:
            out[current] += hashes
    return out


def versions(path) -> dict[str, str]:
    return lock_requirements.pins(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("lock", [*CPU_LOCKS, CUDA_LOCK], ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_locked_package_is_pinned_with_its_hashes(lock):
    pins = entries(lock)
    assert len(pins) > 10
    assert not [name for name, hashes in pins.items() if not hashes]
    assert "-e" not in lock.read_text(encoding="utf-8").split()  # pip refuses editables in a hashed file


def test_each_use_locks_its_direct_dependencies_at_the_versions_of_the_whole():
    whole = versions(REPO / "requirements.txt")
    for use in lock_requirements.USES:
        mine = versions(FOLDER / f"{use}.txt")
        assert direct(use) <= set(mine), use
        assert mine == {n: whole[n] for n in mine}, use
    assert set().union(*map(direct, lock_requirements.USES)) <= set(whole)


def test_a_cpu_install_pulls_no_cuda_package_and_the_gpu_lock_does():
    for lock in CPU_LOCKS:
        pins = versions(lock)
        assert not [n for n in pins if CUDA_PACKAGE.match(n)], lock.name
        if "torch" in pins:
            assert pins["torch"].endswith("+cpu"), lock.name
    cuda = versions(CUDA_LOCK)
    whole = versions(REPO / "requirements.txt")
    assert cuda["torch"] == whole["torch"].split("+")[0]
    assert any(CUDA_PACKAGE.match(n) for n in cuda)
    assert direct("runtime") | direct("notebooks") <= set(cuda)


def test_this_environment_is_installed_as_locked():
    """What the tests run against is what `make setup` installs (a stale environment fails here)."""
    wrong = {}
    for name, version in versions(REPO / "requirements.txt").items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            wrong[name] = None
            continue
        if installed.split("+")[0] != version.split("+")[0]:
            wrong[name] = installed
    assert not wrong, f"not as locked in requirements.txt: {wrong}"


def test_the_gpu_runner_path_installs_the_cuda_lock():
    publish = yaml.safe_load((REPO / ".github" / "workflows" / "publish.yml").read_text(encoding="utf-8"))
    install = next(s for s in publish["jobs"]["execute"]["steps"] if s.get("run", "").startswith("make setup"))
    assert "requirements/cuda.txt" in install["env"]["REQUIREMENTS"] and "$REQUIREMENTS" in install["run"]
    assert "REQUIREMENTS ?= requirements.txt" in (REPO / "Makefile").read_text(encoding="utf-8")
