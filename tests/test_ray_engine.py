"""The Ray engine (``book execute --ray``): the same results as the local pool, resources, lost workers.

One local Ray instance (2 CPUs and a custom resource) serves the whole module; a few notebooks
are run once by each engine in module fixtures, and the tests read those results.
"""
import json
import shutil
import socket
import subprocess
import sys

import pytest

from ingest.store import load_articles
from kb import layout
from kb.cli import InputError
from runner import engine
from runner.records import ExecutionRecord
from tests.conftest import REPO
from tests.execution_support import (CELLS, HANG_LIMIT, KILL_WORKER, book_cli, make_notebook_project, set_code,
                                     table_rows)

pytestmark = pytest.mark.slow  # starts Ray and notebook kernels

ray = pytest.importorskip("ray")

SLOT = "kb_test_slot"  # a custom resource the test cluster offers
PROJECT = {
    "ok-one": CELLS["ok-one"],
    "fails": CELLS["fails"],
    "hangs": CELLS["hangs"],
    "plots": "import matplotlib.pyplot as plt\nplt.plot([0, 1, 2], [2, 0, 1])\nplt.show()\nprint('plotted')",
    "wants-gpu": "print('never runs under Ray here')",
    "wants-slot": "print('ran on a node with the slot')",
}
FRONT = {"wants-gpu": {"resources": {"gpus": 1}}, "wants-slot": {"resources": {SLOT: 1}}}


def _project(root, cells, front=()):
    make_notebook_project(root, cells)
    for slug, extra in dict(front).items():
        set_code(root, slug, cells[slug], **extra)
    return root


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, resources={SLOT: 1}, include_dashboard=False, log_to_driver=False,
             logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def both(tmp_path_factory, ray_cluster):
    """One project, copied before anything ran, executed by the local pool and by Ray."""
    base = _project(tmp_path_factory.mktemp("ray") / "kb", PROJECT, FRONT)
    local_root, ray_root = base.parent / "local", base.parent / "on-ray"
    shutil.copytree(base, local_root, symlinks=True)
    shutil.copytree(base, ray_root, symlinks=True)
    local = {r.slug: r for r in engine.run(local_root, jobs=2, progress=False)}
    on_ray = {r.slug: r for r in engine.run(ray_root, jobs=2, progress=False, ray="local")}
    return (local_root, local), (ray_root, on_ray)


def _outputs(root, slug):
    a = next(a for a in load_articles(root) if a.slug == slug)
    nb = json.loads(layout.executed_notebook(root, a.path).read_text(encoding="utf-8"))
    return nb, [c["outputs"] for c in nb["cells"] if c["cell_type"] == "code"]


def test_ray_and_the_local_pool_give_the_same_statuses_and_outputs(both):
    (local_root, local), (ray_root, on_ray) = both
    same = set(PROJECT) - {"wants-gpu"}
    expected = {"ok-one": "ok", "fails": "failed", "hangs": "timeout", "plots": "ok", "wants-slot": "ok"}
    why = {f"{engine_}:{s}": recs[s].traceback for engine_, recs in (("ray", on_ray), ("local", local))
           for s in same if recs[s].status != expected[s]}
    assert {s: on_ray[s].status for s in same} == {s: local[s].status for s in same} == expected, why
    for slug in ("ok-one", "plots", "wants-slot", "fails"):  # deterministic cells: identical outputs
        assert _outputs(ray_root, slug)[1] == _outputs(local_root, slug)[1], slug
    assert any(o["output_type"] == "display_data" and "image/png" in o["data"] for o in _outputs(ray_root, "plots")[1][0])
    for slug in same:  # the key does not depend on the engine; the stored record has the same shape
        assert on_ray[slug].key == local[slug].key
        assert set(json.loads(layout.record_file(ray_root, slug).read_text("utf-8"))) == set(local[slug].to_json())
    nb, _ = _outputs(ray_root, "ok-one")
    assert nb["metadata"]["kb_execution"]["engine"] == "ray"
    assert (layout.kernel_log(ray_root, "ok-one")).is_file()  # kernel logs travel back from the node


def test_a_failing_notebook_is_isolated_and_not_retried_under_ray(both):
    _, (_, on_ray) = both
    fail = on_ray["fails"]
    assert fail.status == "failed" and "boom: deliberate failure" in fail.traceback
    assert fail.failed_cell is not None and "raise ValueError" in fail.failed_source
    assert on_ray["ok-one"].status == on_ray["plots"].status == "ok", (on_ray["ok-one"].traceback,
                                                                       on_ray["plots"].traceback)


def test_the_time_limit_holds_under_ray(both):
    _, (_, on_ray) = both
    hang = on_ray["hangs"]
    assert hang.status == "timeout" and f"within {HANG_LIMIT} s" in hang.traceback
    assert HANG_LIMIT <= hang.seconds < 600  # the cell sleeps an hour


def test_resources_no_node_offers_fail_at_once_with_the_reason(both):
    (_, local), (_, on_ray) = both
    gpu = on_ray["wants-gpu"]
    assert gpu.status == "failed" and gpu.seconds == 0.0
    assert "no node of the Ray cluster offers gpus: 1" in gpu.traceback
    assert local["wants-gpu"].status == "ok"  # the local engine ignores resources
    assert on_ray["wants-slot"].status == "ok"  # a custom resource the cluster has is honoured


def test_front_matter_resources_become_ray_task_options():
    from runner.ray_engine import Cluster

    options, demand = Cluster("local", started=False)._options(
        {"resources": {"gpus": 1, "cpus": 2, "memory": 2e9, SLOT: 0.5}})
    assert options == {"num_cpus": 2, "num_gpus": 1, "memory": 2e9, "resources": {SLOT: 0.5},
                       "max_retries": 1, "retry_exceptions": False}  # system failures only, retried once
    assert demand == {"CPU": 2, "GPU": 1, "memory": 2e9, SLOT: 0.5}
    assert Cluster("local", started=False)._options({"resources": {}})[1] == {"CPU": 1.0}  # a task takes a CPU


def test_records_say_which_engine_and_host_ran_them(both, tmp_path):
    (_, local), (ray_root, on_ray) = both
    host = socket.gethostname()
    assert {(r.engine, r.host) for r in local.values()} == {("local", host)}
    assert {(r.engine, r.host) for r in on_ray.values()} == {("ray", host)}
    # A cached record keeps what it had, whichever engine serves it.
    copy = tmp_path / "kb"
    shutil.copytree(ray_root, copy, symlinks=True)
    (cached,) = engine.run(copy, only=["ok-one"], progress=False)
    assert cached.cached and cached.engine == "ray"
    # A record written before the fields existed still loads, as a local run of unknown host.
    old = {k: v for k, v in on_ray["ok-one"].to_json().items() if k not in ("engine", "host")}
    rec = ExecutionRecord.from_json({**old, "some_future_field": 1})
    assert (rec.engine, rec.host) == ("local", "") and rec.key == on_ray["ok-one"].key


def test_a_lost_worker_is_retried_once_then_reported(tmp_path, ray_cluster):
    attempts = tmp_path / "attempts"
    attempts.mkdir()
    count = "open(r'{}', 'a').write('x')\n"
    cells = {
        "crash": count.format(attempts / "crash") + KILL_WORKER + "\nimport time\ntime.sleep(60)",
        "fails": count.format(attempts / "fails") + "raise ValueError('boom: deliberate failure')",
    }
    root = _project(tmp_path / "kb", cells)
    recs = {r.slug: r for r in engine.run(root, jobs=2, progress=False, ray="local")}
    assert recs["crash"].status == "failed" and "WorkerCrashedError" in recs["crash"].traceback
    assert "retry" in recs["crash"].traceback
    assert (attempts / "crash").read_text() == "xx"  # run, then retried once
    assert recs["fails"].status == "failed" and (attempts / "fails").read_text() == "x"  # cells failing: no retry


def test_a_bad_resources_value_is_bad_input_for_the_local_engine_too(both, tmp_path):
    (local_root, _), _ = both
    root = tmp_path / "kb"
    shutil.copytree(local_root, root, symlinks=True)
    set_code(root, "ok-one", CELLS["ok-one"], resources={"gpus": -1})
    with pytest.raises(InputError, match=r"ok-one\.md: resources must map resource names to positive numbers"):
        engine.run(root, only=["ok-one"], progress=False)
    set_code(root, "ok-one", CELLS["ok-one"], resources="lots")
    proc = book_cli(root, "execute", "--only", "ok-one")
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("ok-one.md: resources must map resource names to positive numbers "
                                        "(e.g. {gpus: 1}), not 'lots'")


def test_the_local_engine_never_imports_ray(both):
    (local_root, _), _ = both
    code = ("import sys; from runner import engine; "
            f"engine.run({str(local_root)!r}, only=['ok-one'], progress=False); print('ray' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert proc.stdout.strip() == "False"


def test_cli_ray_starts_its_own_local_instance(both, tmp_path):
    (local_root, _), _ = both
    root = tmp_path / "kb"
    shutil.copytree(local_root, root, symlinks=True)
    proc = book_cli(root, "execute", "--ray", "--jobs", "1", "--force", "--only", "ok-one", "fails")
    assert proc.returncode == 1, proc.stderr[-3000:]
    rows = table_rows(proc.stdout)
    assert rows["ok-one"][:2] == ["ok", "no"] and rows["fails"][:2] == ["failed", "no"]
    assert "boom: deliberate failure" in proc.stderr
    record = json.loads(layout.record_file(root, "ok-one").read_text("utf-8"))
    assert record["engine"] == "ray" and record["host"] == socket.gethostname()
