"""Notebooks a reader can run on their own: what the site offers for download and Colab/Binder open.

An executed article notebook imports the project's ``nbhelpers`` (and the n-gram and Medusa
notebooks read the knowledge base's text), which a reader who downloads it does not have.
``standalone`` returns a copy that runs in any Python environment holding the public packages
its first cell names:

1. a setup cell: the packages the notebook imports, pinned at the versions it was executed with,
   installed with ``%pip`` in Colab (where that is the habit) and otherwise listed with the
   ``pip install`` line that provides them;
2. a collapsed helpers cell: the ``nbhelpers`` code the notebook uses, cut to the functions it
   imports and what they call, registered as modules so that the article's own
   ``from nbhelpers... import`` lines run unchanged; data the article declares it reads
   (front matter ``reads``) travels in it too.

Inlining rather than publishing a helpers package on PyPI: nothing to release and keep in step
with the articles, every line that runs is in front of the reader, and a downloaded notebook
keeps working offline. The article in the repository stays as it is.

``write_notebooks`` writes every article's standalone notebook plus what Binder (repo2docker)
needs to build an environment for them; the publish workflow pushes that folder to the
``notebooks`` branch, which the launch links point at.
"""
from __future__ import annotations

import ast
import base64
import bz2
import copy
import functools
import importlib.metadata
import json
import re
import sys
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import nbformat

from ingest.store import Article
from kb import layout
from kb.cli import InputError
from book.png import smaller_png
from book.repository import GITHUB, repository
from kb.files import atomic_folder, json_text
from runner.jobs import KNOWLEDGE_BASE_TEXT, declared_reads

HELPERS = "nbhelpers"
NOTEBOOKS_BRANCH = "notebooks"  # the branch the publish workflow pushes ``write_notebooks``' folder to
MARKER = ".kb-notebooks"  # marks a folder ``write_notebooks`` wrote, so that it may replace it
PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# The kernel itself provides these; a reader's Jupyter already has them.
KERNEL_MODULES = {"IPython", "ipykernel", "ipywidgets", "matplotlib_inline", "traitlets"}
SETUP_TAG, HELPERS_TAG = "kb-setup", "kb-helpers"
KEPT_METADATA = {"title", "title_en", "slug", "topic", "tags", "date", "kb_execution"}

# Data an article may declare in front matter ``reads``: the helper function that reads it in the
# repository, and the value that function returns, embedded because a reader has no checkout.
EMBEDDED_READS = {
    KNOWLEDGE_BASE_TEXT: ("nbhelpers.data", "knowledge_base_texts", lambda articles: [a.text for a in articles]),
}


# --- which helpers and packages a notebook uses ---------------------------------------------

def _python_of(cell_source: str) -> str:
    """A cell's source as plain Python (IPython magics turned into calls), for ``ast``."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(cell_source)


def _code_trees(nb) -> list[ast.Module]:
    return [ast.parse(_python_of(c.source)) for c in nb.cells if c.cell_type == "code"]


def helper_names(nb, helpers_dir: Path) -> dict[str, set[str] | None]:
    """Module of ``nbhelpers`` → the names the notebook takes from it (None: the whole module).

    ``from nbhelpers import pick_device`` asks the package for a name it re-exports;
    ``from nbhelpers import plot`` then ``plot.setup()`` asks ``nbhelpers.plot`` for ``setup``.
    """
    submodules = {p.stem for p in helpers_dir.glob("*.py") if p.stem != "__init__"}

    @functools.cache  # asked once per attribute of a shadowed alias: parse each module once
    def module_names(module: str) -> set[str]:
        tree = ast.parse((helpers_dir / f"{module.split('.', 1)[1]}.py").read_text(encoding="utf-8"))
        return set().union(*(_top_level_names(n) for n in tree.body))

    wanted: dict[str, set[str] | None] = {}
    aliases: dict[str, str] = {}  # local name → helper module imported whole

    def want(module: str, name: str | None) -> None:
        if name is None or wanted.get(module, set()) is None:
            wanted[module] = None
        else:
            wanted.setdefault(module, set()).add(name)

    trees = _code_trees(nb)
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                    node.module.split(".")[0] == HELPERS:
                for a in node.names:
                    if node.module == HELPERS and a.name in submodules:
                        aliases[a.asname or a.name] = f"{HELPERS}.{a.name}"
                    else:
                        want(node.module, a.name)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == HELPERS:
                        want(a.name, None)
    # A name bound anywhere else (``def train(model, data)``) shadows the module somewhere: then only
    # its attributes that the module defines count, and a bare use is the other binding's.
    shadowed = {n.id for t in trees for n in ast.walk(t) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    shadowed |= {n.arg for t in trees for n in ast.walk(t) if isinstance(n, ast.arg)}
    for tree in trees:
        attribute_of = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                attribute_of.add(id(node.value))
                if node.value.id not in shadowed or node.attr in module_names(aliases[node.value.id]):
                    want(aliases[node.value.id], node.attr)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in aliases and node.id not in shadowed \
                    and id(node) not in attribute_of and isinstance(node.ctx, ast.Load):
                want(aliases[node.id], None)  # passed around as a module: keep all of it
    for module in aliases.values():
        wanted.setdefault(module, set())
    return wanted


def _top_level_names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    return set()


def _names_used(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _without_docstrings(source: str) -> str:
    """``source`` with the docstrings of its functions and classes removed (the module's own stays out too)."""
    tree = ast.parse(source)
    drop = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and len(node.body) > 1:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and \
                    isinstance(first.value.value, str):
                drop.update(range(first.lineno, first.end_lineno + 1))
    return "\n".join(line for i, line in enumerate(source.splitlines(), 1) if i not in drop)


def cut_module(source: str, names: set[str] | None, replacements: dict[str, str] | None = None) -> str:
    """``source`` cut to the top-level definitions ``names`` need (all of them for None), and the imports they use.

    ``replacements`` maps a function name to the source that stands in for its definition.
    Docstrings go (the site shows the article; the helpers' documentation lives in the repository).
    """
    replacements = replacements or {}
    tree = ast.parse(source)
    lines = source.splitlines()
    body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    defined = {name: n for n in body if not isinstance(n, (ast.Import, ast.ImportFrom))
               for name in _top_level_names(n)}
    text_of = {id(n): "\n".join(lines[(n.decorator_list[0].lineno if getattr(n, "decorator_list", None)
                                      else n.lineno) - 1:n.end_lineno]) for n in body}
    used_of = {id(n): _names_used(n) for n in body}
    for name, text in replacements.items():
        if name in defined:
            text_of[id(defined[name])] = text
            used_of[id(defined[name])] = _names_used(ast.parse(text))
    keep: set[int] = set()
    todo = list(defined) if names is None else [n for n in names if n in defined]
    missing = set() if names is None else {n for n in names if n not in defined}
    if missing:
        raise KeyError(", ".join(sorted(missing)))
    while todo:
        node = defined[todo.pop()]
        if id(node) in keep:
            continue
        keep.add(id(node))
        todo += [n for n in used_of[id(node)] if n in defined]
    used = set().union(*(used_of[i] for i in keep)) if keep else set()
    out = []
    for n in body:
        if isinstance(n, ast.ImportFrom) and n.module == "__future__":
            out.append(text_of[id(n)])
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            if _top_level_names(n) & used:
                out.append(text_of[id(n)])
        elif id(n) in keep:
            out.append(text_of[id(n)])
    return _without_docstrings("\n\n".join(out)).strip() + "\n"


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()  # scans every installed package: once per process


def distribution_of(module: str) -> str | None:
    """The installed distribution that provides the top-level ``module`` (None: stdlib or not installed)."""
    top = module.split(".")[0]
    if top in sys.stdlib_module_names or top in KERNEL_MODULES or top == HELPERS:
        return None
    dists = _packages_distributions().get(top)
    return dists[0] if dists else None


def requirements_of(sources: list[str], root: Path) -> list[str]:
    """``name==version`` for every package the Python ``sources`` import, at the installed version.

    Imports of modules no installed package provides (one the notebook writes itself, such as the
    DDP article's worker file) are not requirements; a module of this repository is an error, as a
    reader would not have it.
    """
    found = {}
    for source in sources:
        for module in _imported_modules(ast.parse(_python_of(source))):
            top = module.split(".")[0]
            if (Path(root) / top / "__init__.py").exists() and top != HELPERS:
                raise ValueError(f"imports {module}, a module of this repository that a reader does not have")
            dist = distribution_of(module)
            if dist:
                name = importlib.metadata.metadata(dist)["Name"]
                found[name.lower()] = f"{name}=={_public_version(importlib.metadata.version(dist))}"
    return [found[k] for k in sorted(found)]


def _imported_modules(tree: ast.AST, optional: bool = False) -> list[str]:
    """Modules ``tree`` imports, except those under ``try: ... except ImportError`` (optional ones)."""
    if isinstance(tree, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError") for h in tree.handlers):
        optional = True
    if optional and isinstance(tree, (ast.Import, ast.ImportFrom)):
        return []
    if isinstance(tree, ast.Import):
        return [a.name for a in tree.names]
    if isinstance(tree, ast.ImportFrom):
        return [tree.module] if tree.level == 0 and tree.module else []
    return [m for child in ast.iter_child_nodes(tree) for m in _imported_modules(child, optional)]


def _public_version(version: str) -> str:
    # "2.13.0+cpu" → "2.13.0": the local label names a build (CPU/CUDA), which the index decides.
    return version.split("+")[0]


# --- the cells a standalone notebook gains ------------------------------------------------------

SETUP_SOURCE = '''\
# 运行环境 · Setup: the packages this notebook ran with (Python {python}). Colab installs them here; elsewhere,
# run the printed pip line once (without a GPU, add --extra-index-url {cpu_index} for the small CPU torch).
REQUIREMENTS = {requirements}
import importlib.metadata, sys

def _kb_version(name):
    try:
        return importlib.metadata.version(name).split("+")[0]
    except importlib.metadata.PackageNotFoundError:
        return None

_kb_missing = [r for r in REQUIREMENTS if _kb_version(r.split("==")[0]) != r.split("==")[1]]
if _kb_missing and "google.colab" in sys.modules:
    get_ipython().run_line_magic("pip", "install -q " + " ".join(_kb_missing))
elif _kb_missing:
    print("Not installed at the versions this notebook ran with:\\n  pip install " + " ".join(_kb_missing))
'''

HELPERS_PREAMBLE = '''\
# 辅助函数 · Helpers: the parts of the knowledge base's `nbhelpers` package this notebook uses,
# registered as modules so that the cells below import them as they do in the repository.
import sys, types

def _kb_module(name, source):
    module = sys.modules[name] = sys.modules.get(name) or types.ModuleType(name)
    if "." in name:
        parent, _, child = name.rpartition(".")
        setattr(sys.modules[parent], child, module)
    else:
        module.__path__ = []  # a package: `from nbhelpers.data import ...` looks here
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
'''


def _string_literal(source: str) -> str:
    if "'''" not in source and not source.endswith("\\"):
        return "r'''\n" + source + "'''"
    return repr(source)


def _package_init(init_source: str, names: set[str]) -> str:
    """The package's ``__init__`` cut to the re-exports ``names`` asks for."""
    out = []
    for node in ast.parse(init_source).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            picked = [a.name for a in node.names if (a.asname or a.name) in names]
            if picked:
                out.append(f"from {node.module} import {', '.join(picked)}")
    return "\n".join(out) + "\n"


def helper_modules(nb, helpers_dir: Path, embedded: dict[str, str] | None = None) -> dict[str, str]:
    """Module name → the source a standalone notebook registers for it, in an order that imports cleanly."""
    wanted = helper_names(nb, helpers_dir)
    if not wanted:
        return {}
    init_source = (helpers_dir / "__init__.py").read_text(encoding="utf-8")
    reexports = {}  # name the package re-exports → its module
    for node in ast.parse(init_source).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            reexports.update({a.asname or a.name: node.module for a in node.names})
    package_names = wanted.pop(HELPERS, set()) or set()
    for name in package_names:
        if name not in reexports:
            raise KeyError(f"{HELPERS}.{name}")
        wanted.setdefault(reexports[name], set())
        if wanted[reexports[name]] is not None:
            wanted[reexports[name]].add(name)
    modules = {HELPERS: ""}
    for module in sorted(wanted):
        path = helpers_dir / f"{module.split('.', 1)[1].replace('.', '/')}.py"
        replacements = {fn: text for (mod, fn), text in (embedded or {}).items() if mod == module}
        modules[module] = cut_module(path.read_text(encoding="utf-8"), wanted[module], replacements)
    if package_names:
        modules[HELPERS] = _package_init(init_source, package_names)
    return modules


def _embedded_sources(article: Article, articles: list[Article]) -> dict[tuple[str, str], str]:
    """(module, function) → the stand-in definition returning the data the article declares it reads.

    The data travels as bzip2-compressed JSON in base85 (no quote or backslash in its alphabet) on one
    line: the knowledge base's text is 30 kB as literals and 16 kB so. bzip2 beats LZMA on this much
    Chinese text by 5%, and every line break in a cell costs a JSON string's quoting in the file.
    """
    out = {}
    for name in declared_reads(article):
        module, function, value = EMBEDDED_READS[name]
        blob = base64.b85encode(bz2.compress(json.dumps(value(articles), ensure_ascii=False).encode("utf-8"), 9))
        out[(module, function)] = (f"def {function}(*args, **kwargs):\n"
                                   f"    # {name}, as it was when this notebook was built (a reader has no checkout)\n"
                                   f"    import base64, bz2, json\n"
                                   f"    return json.loads(bz2.decompress(base64.b85decode(_EMBEDDED)))\n\n\n"
                                   f'_EMBEDDED = "{blob.decode("ascii")}"')
    return out


def _helpers_cell_source(modules: dict[str, str]) -> str:
    # The package first (its modules attach to it), its re-exports last (they import its modules).
    calls = [f'_kb_module("{HELPERS}", "")']
    calls += [f'_kb_module("{name}", {_string_literal(src)})' for name, src in modules.items() if name != HELPERS]
    if modules.get(HELPERS):
        calls.append(f'_kb_module("{HELPERS}", {_string_literal(modules[HELPERS])})')
    return HELPERS_PREAMBLE + "\n" + "\n".join(calls) + "\n"


# MyST that a notebook viewer shows as raw text: comment lines and ``[text]{.kb-class}`` spans.
_MYST_COMMENT = re.compile(r"^%.*\n?", re.M)
_KB_SPAN = re.compile(r"\[((?:\\.|[^\]\\])*)\]\{\.kb-[a-z-]+\}")


def _plain_markdown(source: str) -> str:
    # The span's text stays as escaped as it was: feed text never becomes markup.
    return _KB_SPAN.sub(r"\1", _MYST_COMMENT.sub("", source)).strip("\n")


def standalone(nb, article: Article, articles: list[Article], helpers_dir: Path):
    """A copy of the executed notebook ``nb`` that runs without this repository (see the module docstring)."""
    nb = copy.deepcopy(nb)
    modules = helper_modules(nb, helpers_dir, _embedded_sources(article, articles))
    code = [c.source for c in nb.cells if c.cell_type == "code"] + list(modules.values())
    requirements = requirements_of(code, helpers_dir.parent)
    python = ".".join(map(str, sys.version_info[:2]))
    setup = nbformat.v4.new_code_cell(
        SETUP_SOURCE.format(python=python, cpu_index=PYTORCH_CPU_INDEX,
                            requirements=repr(requirements).replace("'", '"')),
        metadata={"tags": [SETUP_TAG]})
    new = [setup]
    if modules:
        new.append(nbformat.v4.new_code_cell(
            _helpers_cell_source(modules),
            metadata={"tags": [HELPERS_TAG], "jupyter": {"source_hidden": True}, "collapsed": True}))
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _plain_markdown(cell.source)
    nb.cells = new + [c for c in nb.cells if c.cell_type != "markdown" or c.source.strip()]
    _shrink_figures(nb)
    # The first cell already shows the abstract; the feed excerpt and the MyST pairing would only add weight.
    nb.metadata = nbformat.NotebookNode({k: v for k, v in nb.metadata.items() if k in KEPT_METADATA})
    nb.metadata.get("kb_execution", {}).pop("host", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python", "version": python}
    nb.nbformat_minor = max(nb.nbformat_minor, 5)
    for i, cell in enumerate(nb.cells):  # nbformat 4.5 wants cell ids: stable ones, so rebuilds change nothing
        cell.id = f"{article.slug[:50]}-{i}"
    return nb


def _shrink_figures(nb) -> None:
    # The page keeps the kernel's PNGs; the download carries the same pixels in fewer bytes.
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                png = base64.b64decode(data["image/png"])
                data["image/png"] = base64.b64encode(smaller_png(png)).decode("ascii")


def requirements_in(nb) -> list[str]:
    """The ``REQUIREMENTS`` a standalone notebook's setup cell names."""
    setup = next(c for c in nb.cells if c.cell_type == "code" and SETUP_TAG in c.metadata.get("tags", []))
    for node in ast.parse(setup.source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "REQUIREMENTS"
                                                for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise ValueError("the setup cell names no REQUIREMENTS")


# --- every article's notebook, and the launch links ---------------------------------------------

def notebook_path(article: Article) -> PurePosixPath:
    """Where an article's standalone notebook lies in ``write_notebooks``' folder (and the branch)."""
    return PurePosixPath(article.path.relative_to(layout.ARTICLES).with_suffix(".ipynb").as_posix())


def standalone_notebooks(root: Path, articles: list[Article]) -> dict[PurePosixPath, object]:
    """Path in the notebooks folder → standalone notebook, for every article with an executed notebook."""
    root = Path(root)
    out = {}
    for article in articles:
        executed = layout.executed_notebook(root, article.path)
        if not executed.exists():
            continue
        try:
            nb = nbformat.read(executed, as_version=4)
        except Exception as e:  # a truncated or hand-edited file: say which
            raise InputError(executed, f"not a readable notebook ({e})") from None
        out[notebook_path(article)] = standalone(nb, article, articles, root / HELPERS)
    return out


def binder_requirements(notebooks: dict) -> str:
    """One environment for every notebook, for repo2docker: PyTorch's CPU wheel (Binder has no GPU)."""
    pins = {}
    for nb in notebooks.values():
        for r in requirements_in(nb):
            pins[r.partition("==")[0].lower()] = r
    lines = [f"--extra-index-url {PYTORCH_CPU_INDEX}"]
    for name in sorted(pins):
        lines.append(pins[name] + "+cpu" if name == "torch" else pins[name])
    return "\n".join(lines + [f"ipykernel=={importlib.metadata.version('ipykernel')}"]) + "\n"


README = """\
# Executable ML articles: standalone notebooks

Generated by `python -m book notebooks` from the articles' executed notebooks; do not edit here.
Each notebook runs on its own: its first cell names the packages it needs (installed in Colab),
its helpers cell holds the project code it uses. `requirements.txt`, `runtime.txt` and `apt.txt`
describe one environment for all of them (what Binder builds).
"""


def _write_each(folder: Path, notebooks: dict) -> None:
    """Each notebook at its path under ``folder`` (a fresh folder ``atomic_folder`` fills)."""
    for rel, nb in notebooks.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def write_notebooks(root: Path, articles: list[Article], out: Path) -> dict[PurePosixPath, object]:
    """Write every standalone notebook and the Binder environment into ``out``, replacing it whole.

    ``out`` must be missing, empty, or a folder this function wrote before: anything else is
    somebody's work, and an error rather than something to overwrite.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise InputError(out, "exists and was not written by `python -m book notebooks`: give a new or empty folder")
    notebooks = standalone_notebooks(root, articles)
    if not notebooks:
        raise InputError(layout.execution_dir(root), "no executed notebooks yet (run `python -m book execute`)")

    def fill(tmp: Path) -> None:
        _write_each(tmp, notebooks)
        (tmp / "requirements.txt").write_text(binder_requirements(notebooks), encoding="utf-8")
        (tmp / "runtime.txt").write_text(f"python-{sys.version_info[0]}.{sys.version_info[1]}\n", encoding="utf-8")
        (tmp / "apt.txt").write_text("fonts-noto-cjk\n", encoding="utf-8")  # Chinese labels in the figures
        (tmp / "README.md").write_text(README, encoding="utf-8")
        (tmp / MARKER).write_text("", encoding="utf-8")

    atomic_folder(out, fill)
    return notebooks


def write_downloads(root: Path, articles: list[Article]) -> int:
    """The standalone notebooks where the site's download links point, and each one's launch links.

    The links go to a file beside them (``layout.launch_links_file``) that the Sphinx extension reads,
    as it reads every other stage's output.
    """
    notebooks = standalone_notebooks(root, articles)
    repo = repository(root)
    links = {a.slug: launch_links(repo, notebook_path(a)) for a in articles if notebook_path(a) in notebooks}

    def fill(tmp: Path) -> None:
        _write_each(tmp, notebooks)
        (tmp / layout.LAUNCH_LINKS_FILE).write_text(json_text(links), encoding="utf-8")

    atomic_folder(layout.downloads_dir(root), fill)
    return len(notebooks)


def launch_links(repo: dict, path: PurePosixPath) -> list[tuple[str, str]]:
    """(label, URL) for opening the standalone notebook at ``path`` of the notebooks branch.

    Colab and Binder read GitHub repositories; a JupyterHub pulls the branch with nbgitpuller.
    No repository configured: no links (rather than links to nowhere).
    """
    if not repo:
        return []
    links = []
    m = GITHUB.match(repo["url"])
    if m:
        owner, name = m.groups()
        links.append(("Colab", f"https://colab.research.google.com/github/{owner}/{name}/blob/"
                               f"{NOTEBOOKS_BRANCH}/{quote(str(path))}"))
        links.append(("Binder", f"https://mybinder.org/v2/gh/{owner}/{name}/{NOTEBOOKS_BRANCH}"
                                f"?labpath={quote(str(path), safe='')}"))
    hub = repo.get("jupyterhub_url", "").rstrip("/")
    if hub:
        name = repo["url"].rsplit("/", 1)[-1].removesuffix(".git")
        links.append(("JupyterHub", f"{hub}/hub/user-redirect/git-pull?repo={quote(repo['url'], safe='')}"
                                    f"&branch={NOTEBOOKS_BRANCH}&urlpath="
                                    f"{quote(f'lab/tree/{name}/{path}', safe='')}"))
    return links
