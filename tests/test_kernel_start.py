"""Kernels: forked from a zygote and isolated all the same; one that fails to come up is started once
more; a notebook whose cells fail is not re-run; one that runs too long is killed with its processes."""
import nbformat
import pytest
from nbclient import NotebookClient

from runner import kernel

pytestmark = pytest.mark.slow  # starts notebook kernels


def _notebook(source: str, kernel_name: str = "python3") -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": kernel_name, "display_name": kernel_name, "language": "python"}
    return nbformat.writes(nb)


def _run(nb_json, tmp_path):
    return kernel.execute_notebook(nb_json, str(tmp_path), timeout=60, threads=1, pythonpath="",
                                   kernel_log=str(tmp_path / "kernel.log"))


def test_a_kernel_that_fails_to_start_once_is_started_again(tmp_path, monkeypatch):
    real = NotebookClient.async_start_new_kernel
    calls = []

    async def flaky(self, **kw):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("simulated: address already in use")
        return await real(self, **kw)

    monkeypatch.setattr(NotebookClient, "async_start_new_kernel", flaky)
    res = _run(_notebook("print(6 * 7)"), tmp_path)
    assert len(calls) == 2 and res.status == "ok", res.traceback
    assert "42" in nbformat.reads(res.nb_json, as_version=4).cells[0].outputs[0]["text"]


def test_a_kernel_that_never_starts_fails_with_the_reason(tmp_path):
    res = _run(_notebook("print(1)", kernel_name="no-such-kernel-kb"), tmp_path)
    assert res.status == "failed" and res.failed_cell is None
    assert f"did not start ({kernel.START_ATTEMPTS} attempts)" in res.traceback and "no-such-kernel-kb" in res.traceback


def test_a_failing_cell_is_not_run_twice(tmp_path):
    marker = tmp_path / "runs.txt"
    src = f"open({str(marker)!r}, 'a').write('x')\nraise ValueError('boom')"
    res = _run(_notebook(src), tmp_path)
    assert res.status == "failed" and res.failed_cell == 0 and "boom" in res.traceback
    assert marker.read_text() == "x"


def _outputs(res) -> list[list[dict]]:
    return [c.outputs for c in nbformat.reads(res.nb_json, as_version=4).cells]


def test_forked_kernels_run_in_the_notebooks_folder_show_figures_and_share_nothing(tmp_path, monkeypatch):
    from runner import forked_kernel

    if not forked_kernel.supported():
        pytest.skip("kernels are forked on Linux only")
    source = ("import os, sys, torch\nimport matplotlib.pyplot as plt\n"
              "print(os.getcwd() == sys.path[0] == os.environ['KB_TEST_DIR'], hasattr(torch, 'kb_marker'))\n"
              "torch.kb_marker = 1\nplt.plot([1, 2]); plt.show()")
    monkeypatch.setenv("KB_TEST_DIR", str(tmp_path))
    runs = [_run(_notebook(source), tmp_path) for _ in range(2)]
    for res in runs:
        (text, image), = [_outputs(res)[0]]
        assert res.status == "ok" and text["text"] == "True False\n", res.traceback  # nothing leaked from the first
        assert "image/png" in image["data"]
    assert forked_kernel._zygote is not None  # they came from the zygote


def test_a_timed_out_kernel_is_killed_with_the_processes_it_started(tmp_path):
    import subprocess
    import time

    marker = f"kb-orphan-{tmp_path.name}"
    nb = _notebook(f"import subprocess\nsubprocess.Popen(['bash', '-c', 'exec -a {marker} sleep 300'])\nwhile True: pass")
    res = kernel.execute_notebook(nb, str(tmp_path), timeout=3, threads=1, pythonpath="",
                                  kernel_log=str(tmp_path / "kernel.log"))
    assert res.status == "timeout"
    time.sleep(0.5)
    assert marker not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout


def test_without_forked_kernels_a_notebook_runs_in_a_kernel_started_the_usual_way(tmp_path, monkeypatch):
    from runner import forked_kernel

    monkeypatch.setenv("KB_FORKED_KERNELS", "0")
    assert forked_kernel.kernel_manager("python3", "import torch") is None
    res = _run(_notebook("print(6 * 7)"), tmp_path)
    assert res.status == "ok" and _outputs(res)[0][0]["text"] == "42\n"


def test_only_notebooks_importing_what_the_zygote_preloads_get_a_forked_kernel():
    from runner import forked_kernel

    for code in ("import torch", "import os, numpy as np", "from nbhelpers.device import pick_device",
                 "x = 1\n    from matplotlib import pyplot as plt"):
        assert forked_kernel.uses_preloaded(code), code
    for code in ("import os, signal", "import torchvision", "x = 'import torch'", "# torch, numpy"):
        assert not forked_kernel.uses_preloaded(code), code
    assert forked_kernel.kernel_manager("python3", "import os\nprint(6 * 7)") is None
    if forked_kernel.supported():
        assert forked_kernel.kernel_manager("python3", "import torch") is not None


def test_a_forked_kernel_whose_zygote_dies_exits_too(tmp_path):
    import os
    import time

    from runner import forked_kernel

    if not forked_kernel.supported():
        pytest.skip("kernels are forked on Linux only")
    pid_file = tmp_path / "kernel.pid"
    nb = _notebook(f"import numpy, os, signal, time\nopen(r'{pid_file}', 'w').write(str(os.getpid()))\n"
                   "os.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(30)")
    res = kernel.execute_notebook(nb, str(tmp_path), timeout=20, threads=1, pythonpath="",
                                  kernel_log=str(tmp_path / "kernel.log"))
    assert res.status == "failed", res.traceback  # the kernel went with its parent, long before the limit
    pid = int(pid_file.read_text())
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
