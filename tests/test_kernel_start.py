"""A kernel that fails to come up is started once more; a notebook whose cells fail is not re-run."""
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
