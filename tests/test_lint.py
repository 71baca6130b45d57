"""`python -m book lint`: the article rules a program can check, each finding `file:line: rule: advice`."""
import pytest

from book.cli import main as book_main
from book.lint import code_findings, lint_article, prose_findings
from ingest.article_file import ArticleFile
from ingest.store import load_articles
from tests.execution_support import make_notebook_project


@pytest.mark.parametrize("code", [
    "x = torch.randn(4, 3, device=device)",
    "i = torch.randint(0, 9, (5,), device=x.device)",
    "e = torch.randn_like(x)",
    "w.normal_(0, 1)",
    "idx = torch.multinomial(p, 1)",
])
def test_a_draw_on_the_device_is_a_finding(code):
    assert [rule for _, rule, _ in code_findings(code)] == ["device-random"]


@pytest.mark.parametrize("code", [
    "g = torch.Generator().manual_seed(0)\nx = torch.randn(4, 3, generator=g).to(device)",
    "x = torch.randn(4, 3, device='cpu')",
    "w.normal_(0, 1, generator=g)",
    "nn.init.normal_(layer.weight)",  # initialised on the CPU before the module moves
    "idx = torch.multinomial(p, 1, generator=g)",
    "%matplotlib inline\ny = x + 1",
])
def test_draws_on_a_cpu_generator_are_fine(code):
    assert code_findings(code) == []


def test_one_runs_figure_stated_as_fact_is_a_finding_and_a_claim_is_not():
    assert [n for n, _, _ in prose_findings("误差很小。\n（float32 累积舍入；实测 1e-6 量级）")] == [2]
    assert prose_findings("实测约 0.3–0.4 倍") and prose_findings("ODE 实测 约 0.2 nat")
    assert prose_findings("误差须小于 1e-4：打印出来的数值就是证据。") == []


def implementation(root, slug, code_cells):
    path = next((root / "articles").rglob(f"{slug}.md"))
    af = ArticleFile.read(path)
    af.implementation = "\n+++\n\n## 实现\n\n实测约 0.3 倍。\n\n" + "".join(
        f"```{{code-cell}} ipython3\n{code}\n```\n\n" for code in code_cells)
    path.write_text(af.render(), encoding="utf-8")
    return path


def test_findings_point_at_the_lines_of_the_article_file(tmp_path, capsys):
    root = make_notebook_project(tmp_path / "kb", {"a": "pass"})
    path = implementation(root, "a", [
        "import torch\nimport torch.nn.functional as F\n\ndef sample(f, grid):\n    return F.grid_sample(f, grid)\n\n"
        "def head(f, grid):\n    return sample(f, grid).sum()",
        "from torch.autograd import gradcheck\nassert gradcheck(lambda f: head(f, g), (f0,))\n"
        "assert gradcheck(lambda f: head(f, g), (f0,), nondet_tol=1e-10)\nassert gradcheck(torch.sin, (f0,))\n"
        "x = torch.randn(3, device=device)"])
    lines = path.read_text(encoding="utf-8").splitlines()
    found = {(f.rule, lines[f.line - 1].strip()) for f in lint_article(path)}
    assert found == {("one-run-figure", "实测约 0.3 倍。"),
                     ("gradcheck-nondet", "assert gradcheck(lambda f: head(f, g), (f0,))"),
                     ("device-random", "x = torch.randn(3, device=device)")}
    assert book_main(["--root", str(root), "lint"]) == 1
    out = capsys.readouterr().out
    rel = next(a for a in load_articles(root) if a.slug == "a").path.as_posix()
    assert f"{rel}:{lines.index('实测约 0.3 倍。') + 1}: one-run-figure: " in out
    assert "3 finding(s)" in out


def test_the_articles_follow_the_rules(capsys):
    from tests.conftest import REPO

    assert book_main(["--root", str(REPO), "lint"]) == 0, capsys.readouterr().out
