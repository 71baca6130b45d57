"""A small project of notebooks that pass, fail, hang, die or print too much, and the book CLI,
shared by the runner's tests."""
import subprocess
import sys

from ingest.article_file import ArticleFile
from ingest.store import load_articles
from ingest.sync import ingest
from tests.conftest import REPO, make_project, write_feed

CELLS = {
    "ok-one": "print('hello from one', 6 * 7)",
    # A stand-in for a CUDA machine: the probe must report the device the notebook initialised.
    "ok-two": "import torch\nimport matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()\n"
              "print('two', int(torch.ones(3).sum()))\n"
              "torch.cuda.is_available = torch.cuda.is_initialized = lambda: True\n"
              "torch.cuda.current_device = lambda: 0\ntorch.cuda.get_device_name = lambda i: 'Fake GPU 9000'",
    "fails": "x = 1\nraise ValueError('boom: deliberate failure')",
    "hangs": "import time\ntime.sleep(3600)",
    "dies": "import os\nos._exit(3)",
    "chatty": "print('HEAD' + 'x' * 300_000 + 'TAIL')",  # a runaway print, capped by its front matter
}
STREAM_LIMIT = 1000
HANG_LIMIT = 3


def set_code(root, slug, code, tags=None, **front):
    path = next(p for p in (root / "articles").rglob(f"{slug}.md"))
    af = ArticleFile.read(path)
    af.meta.update(front)
    options = f":tags: [{', '.join(tags)}]\n" if tags else ""
    af.implementation = f"\n+++\n\n## 实现\n\n```{{code-cell}} ipython3\n{options}{code}\n```\n"
    path.write_text(af.render(), encoding="utf-8")


def make_notebook_project(root, cells: dict[str, str]):
    make_project(root)
    lines = [f"测试文章 {name} 的摘录文本，足够长以便被当作一条条目，而不是分类行 ..." for name in cells]
    write_feed(root / "feeds" / "t.txt", *lines)
    assert ingest(root, [root / "feeds"]).ok
    for a in load_articles(root):
        name = next(n for n in cells if f" {n} " in a.text)
        path = root / a.path
        af = ArticleFile.read(path)
        af.meta["slug"] = name
        path.unlink()
        (path.parent / f"{name}.md").write_text(af.render(), encoding="utf-8")
    front = {"hangs": {"execution_timeout": HANG_LIMIT}, "chatty": {"stream_limit": STREAM_LIMIT}}
    for name, code in cells.items():
        set_code(root, name, code, **front.get(name, {}))
    ingest(root, [root / "feeds"])  # refresh the toc after the renames
    return root


def table_rows(stdout: str) -> dict[str, list[str]]:
    """The rows of the table `book execute` / `book report` print, by slug."""
    rows = [line.split() for line in stdout.splitlines()]
    return {r[0]: r[1:] for r in rows if r and r[0] in CELLS}


def book_cli(root, *args):
    return subprocess.run([sys.executable, "-m", "book", "--root", str(root), *args],
                          capture_output=True, text=True, cwd=REPO)


# Notebook code that kills the worker process running its job: the kernel's parent, or, for a kernel
# forked by the worker's zygote (runner.forked_kernel), that zygote's parent.
KILL_WORKER = """import os, signal
def _parent(pid):
    with open('/proc/%d/status' % pid) as f:
        return int(next(line.split()[1] for line in f if line.startswith('PPid:')))
def _cmdline(pid):
    with open('/proc/%d/cmdline' % pid, 'rb') as f:
        return f.read()
_worker = os.getppid()
if b'forked_kernel' in _cmdline(_worker):
    _worker = _parent(_worker)
os.kill(_worker, signal.SIGKILL)"""
