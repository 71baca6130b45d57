"""Downloaded notebooks run on their own: helpers inlined and cut to what is used, packages pinned,
data carried along, launch links well formed; and three real articles run as a reader would."""
from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path, PurePosixPath

import nbformat
import pytest

from book import notebooks
from book.notebooks import (EMBEDDED_READS, HELPERS_TAG, SETUP_TAG, launch_links, repository, requirements_in,
                            standalone, write_notebooks)
from ingest.store import Article, load_articles
from kb import layout
from runner.jobs import READABLE
from tests.conftest import REPO
from tests.reader_support import run_as_reader

HELPERS = REPO / "nbhelpers"


def article(slug="demo", reads=None, text="feed text"):
    extra = {"reads": reads} if reads else {}
    return Article(slug=slug, title=slug, title_en="", topic="t", tags=[], date=None, category=None, feeds=[],
                   text=text, path=Path("articles/t") / f"{slug}.md", extra=extra)


def notebook(*code, markdown="# Title"):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(markdown)] + [nbformat.v4.new_code_cell(c) for c in code]
    return nb


def run_code_cells(nb, cwd: Path) -> subprocess.CompletedProcess:
    """The notebook's code, run by an isolated interpreter (no checkout on its path) from ``cwd``."""
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return subprocess.run([sys.executable, "-I", "-c", code], cwd=cwd, capture_output=True, text=True)


def helpers_source(nb) -> str:
    return next(c.source for c in nb.cells if HELPERS_TAG in c.metadata.get("tags", []))


def test_helpers_cell_holds_only_the_functions_used_and_what_they_call(tmp_path):
    nb = notebook("from nbhelpers import pick_device, seed_everything\n"
                  "from nbhelpers.data import sample_gaussian_mixture, gmm_noised_score\n"
                  "seed_everything(0)\n"
                  "import numpy as np, torch\n"
                  "means = np.array([[0.0, 0.0], [1.0, 1.0]], dtype=np.float32)\n"
                  "x = sample_gaussian_mixture(10, means, 0.5)\n"
                  "s = gmm_noised_score(torch.as_tensor(x), means, 0.5)\n"
                  "print('device', pick_device().type, 'score', tuple(s.shape))")
    out = standalone(nb, article(), [article()], HELPERS)
    assert [c.metadata["tags"] for c in out.cells[:2]] == [[SETUP_TAG], [HELPERS_TAG]]
    source = helpers_source(out)
    assert "def _gmm_noised_parts" in source  # called by gmm_noised_score
    assert "def digits" not in source and "def two_moons" not in source and "def setup" not in source
    assert "from ingest" not in source  # nothing of the repository beyond the helpers
    proc = run_code_cells(out, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "device cpu score (10, 2)" in proc.stdout


def test_a_helper_module_name_shadowed_by_a_variable_keeps_only_what_the_module_defines(tmp_path):
    nb = notebook("from nbhelpers import data, plot\n"
                  "def train(data):\n    return data.shape\n"
                  "x, y = data.digits()\nplt = plot.setup()\nprint('shape', train(x))")
    source = helpers_source(standalone(nb, article(), [article()], HELPERS))
    assert "def digits" in source and "def setup" in source
    assert "def two_moons" not in source and "def samples_vs_target" not in source
    proc = run_code_cells(standalone(nb, article(), [article()], HELPERS), tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "shape (1797, 64)" in proc.stdout


def test_requirements_name_each_imported_package_at_its_installed_version():
    nb = notebook("import json, os\nimport numpy as np\nfrom sklearn.tree import DecisionTreeClassifier\n"
                  "import torch.nn.functional as F\nfrom IPython.display import display\n"
                  "%matplotlib inline\nimport worker_the_notebook_wrote")
    reqs = requirements_in(standalone(nb, article(), [article()], HELPERS))

    def pin(dist):
        return f"{dist}=={importlib.metadata.version(dist).split('+')[0]}"

    assert reqs == [pin("numpy"), pin("scikit-learn"), pin("torch")]


def test_a_module_of_this_repository_left_in_a_notebook_is_an_error():
    with pytest.raises(ValueError, match="imports search.query, a module of this repository"):
        standalone(notebook("from search.query import Searcher"), article(), [article()], HELPERS)


def test_a_notebook_that_reads_the_knowledge_base_text_carries_it(tmp_path):
    texts = ["第一篇 feed text, with 'quotes' and \\ backslashes", "", "第三篇 ''' triple"]
    articles = [article(f"a{i}", text=t) for i, t in enumerate(texts)]
    nb = notebook("from nbhelpers.data import knowledge_base_texts\n"
                  "import json\nprint(json.dumps(knowledge_base_texts()))")
    out = standalone(nb, article("lm", reads="knowledge-base-text"), articles, HELPERS)
    proc = run_code_cells(out, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == texts


def test_every_kind_of_declared_data_can_travel_with_a_notebook():
    assert set(EMBEDDED_READS) == set(READABLE)


def test_myst_only_markup_is_unwrapped_and_feed_text_stays_escaped():
    md = ("% ==== BEGIN feed region ====\n# T\n\n[\\<script\\>alert(1)\\</script\\> \\[x\\]]{.kb-abstract-en}\n"
          "% ==== END feed region ====")
    out = standalone(notebook("print(1)", markdown=md), article(), [article()], HELPERS)
    text = next(c.source for c in out.cells if c.cell_type == "markdown")
    assert text == "# T\n\n\\<script\\>alert(1)\\</script\\> \\[x\\]"


def _figure_png(transparent: bool = False) -> bytes:
    """A PNG as a notebook's inline backend writes one (matplotlib's Agg, RGBA)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 2.5))
    ax.plot(range(50), [(i * 7) % 13 for i in range(50)], label="loss")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72, transparent=transparent)
    plt.close(fig)
    return buf.getvalue()


def test_figures_in_a_download_keep_their_pixels_in_fewer_bytes():
    import base64
    import io

    import numpy as np
    from PIL import Image

    from book.png import smaller_png

    for transparent, mode in ((False, "RGB"), (True, "RGBA")):  # alpha dropped only where every pixel is opaque
        original = _figure_png(transparent)
        smaller = smaller_png(original)
        assert len(smaller) < len(original) if not transparent else len(smaller) <= len(original)
        before, after = Image.open(io.BytesIO(original)), Image.open(io.BytesIO(smaller))
        assert after.mode == mode and after.info.get("dpi") == before.info.get("dpi")
        assert np.array_equal(np.asarray(before.convert("RGBA")), np.asarray(after.convert("RGBA")))
    grey = io.BytesIO()
    Image.open(io.BytesIO(_figure_png())).convert("L").save(grey, "PNG")
    assert smaller_png(grey.getvalue()) == grey.getvalue() and smaller_png(b"not a png") == b"not a png"
    nb = notebook("print(1)")
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", {"image/png": base64.b64encode(_figure_png()).decode(),
                                                                   "text/plain": "<Figure>"})]
    out = standalone(nb, article(), [article()], HELPERS)
    shipped = base64.b64decode(out.cells[-1].outputs[0]["data"]["image/png"])
    assert shipped == smaller_png(_figure_png()) and nb.cells[1].outputs[0]["data"]["image/png"] != shipped


def test_launch_links_open_the_notebooks_branch_and_are_absent_without_a_repository():
    path = PurePosixPath("generative/nice-flow.ipynb")
    assert launch_links({}, path) == []
    links = dict(launch_links({"url": "https://github.com/owner/kb.git", "jupyterhub_url": ""}, path))
    assert links == {
        "Colab": "https://colab.research.google.com/github/owner/kb/blob/notebooks/generative/nice-flow.ipynb",
        "Binder": "https://mybinder.org/v2/gh/owner/kb/notebooks?labpath=generative%2Fnice-flow.ipynb",
    }
    hub = dict(launch_links({"url": "https://git.example.org/kb", "jupyterhub_url": "https://hub.example.org/"}, path))
    assert list(hub) == ["JupyterHub"]  # Colab and Binder read GitHub only
    assert hub["JupyterHub"].startswith("https://hub.example.org/hub/user-redirect/git-pull?repo=https%3A%2F%2F")
    assert "branch=notebooks" in hub["JupyterHub"] and "lab%2Ftree%2Fkb%2Fgenerative%2Fnice-flow.ipynb" in hub["JupyterHub"]


def test_the_repository_comes_from_the_book_configuration(tmp_path):
    (tmp_path / "_config.yml").write_text("title: t\nlaunch_buttons:\n  colab_url: ''\n")
    assert repository(tmp_path) == {}  # no repository: no links
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/o/r/\n"
                                          "notebooks:\n  jupyterhub_url: https://hub.example.org\n")
    assert repository(tmp_path) == {"url": "https://github.com/o/r", "jupyterhub_url": "https://hub.example.org"}


def _executed_project(tmp_path) -> Path:
    """A root with one article's executed notebook, enough for ``write_notebooks``."""
    root = tmp_path / "kb"
    a = article("demo")
    executed = layout.executed_notebook(root, a.path)
    executed.parent.mkdir(parents=True)
    nbformat.write(notebook("from nbhelpers import seed_everything\nseed_everything(1)"), executed)
    (root / "nbhelpers").symlink_to(HELPERS)
    return root


def test_notebooks_folder_holds_each_notebook_and_a_binder_environment(tmp_path):
    root = _executed_project(tmp_path)
    out = tmp_path / "out"
    write_notebooks(root, [article("demo")], out)
    nb = nbformat.read(out / "t" / "demo.ipynb", as_version=4)
    nbformat.validate(nb)
    assert requirements_in(nb) == [f"numpy=={importlib.metadata.version('numpy')}"]
    binder = (out / "requirements.txt").read_text().splitlines()
    assert binder[0].startswith("--extra-index-url https://download.pytorch.org/whl/cpu")
    assert f"numpy=={importlib.metadata.version('numpy')}" in binder
    assert f"ipykernel=={importlib.metadata.version('ipykernel')}" in binder
    assert (out / "runtime.txt").read_text() == f"python-{sys.version_info[0]}.{sys.version_info[1]}\n"
    write_notebooks(root, [article("demo")], out)  # its own earlier output: replaced


def test_notebooks_command_refuses_a_folder_it_did_not_write(tmp_path):
    root = REPO  # the folder is checked before any notebook is read
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    proc = subprocess.run([sys.executable, "-m", "book", "--root", str(root), "notebooks", str(tmp_path / "mine")],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(f"error: {tmp_path / 'mine'}: exists and was not written by")
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


# One TensorFlow article, one that reads the knowledge base's text, one plain PyTorch article.
READER_ARTICLES = ["tf-feature-column", "ngram-language-model", "pytorch-autograd"]


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    articles = load_articles(REPO)
    chosen = [a for a in articles if a.slug in READER_ARTICLES]
    if not all(layout.executed_notebook(REPO, a.path).exists() for a in chosen):
        pytest.skip("the articles are not executed yet (python -m book execute)")
    # Only the chosen ones, made as `book notebooks` makes each (with every article, for the text
    # some of them embed): all 39 would take longer than running one.
    out = tmp_path_factory.mktemp("notebooks")
    for a in chosen:
        nb = standalone(nbformat.read(layout.executed_notebook(REPO, a.path), as_version=4), a, articles, HELPERS)
        (out / notebooks.notebook_path(a)).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out / notebooks.notebook_path(a))
    return out, {a.slug: notebooks.notebook_path(a) for a in chosen}


@pytest.mark.slow
@pytest.mark.parametrize("slug", READER_ARTICLES)
def test_downloaded_notebook_runs_in_a_fresh_environment_without_the_repository(published, slug,
                                                                               tmp_path, tmp_path_factory):
    out, paths = published
    cache = tmp_path_factory.getbasetemp() / "reader-venvs"  # one environment per set of requirements
    result = run_as_reader(out / paths[slug], tmp_path / "reader", cache)
    assert result["ok"], result["error"]
