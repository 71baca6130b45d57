"""A real Jupyter Book build of ingested feeds, hostile ones included (one build, several checks)."""
import json

import jupytext
import pytest
from bs4 import BeautifulSoup

from ingest.store import load_articles

pytestmark = pytest.mark.slow  # builds the book with Jupyter Book


@pytest.fixture(scope="module")
def built(hostile_site):
    return hostile_site


def page(root, article):
    html = (root / "_build" / "html" / article.path.with_suffix(".html")).read_text(encoding="utf-8")
    return BeautifulSoup(html, "html.parser")


def article_starting(root, prefix):
    return next(a for a in load_articles(root) if a.text.startswith(prefix))


def test_every_article_has_a_page_with_its_title(built):
    articles = load_articles(built)
    assert len(articles) == 42  # 39 sample articles + 3 hostile entries
    for a in articles:
        soup = page(built, a)
        h1 = soup.find("main").find("h1")
        assert h1.contents[0].strip() == a.title


def test_feed_text_and_math_read_as_in_the_feed(built):
    a = article_starting(built, "补充知识 表示学习")
    main = page(built, a).find("main")
    text = main.get_text()
    assert "学习数据的表征,以便在构建分类器或其他预测器时更容易提取有用的信息" in text
    maths = [m.get_text() for m in main.select(".math")]
    assert r"\(X\)" in maths and any(r"\frac{1}{2N}" in m for m in maths)


def test_hostile_text_is_literal_and_inert(built):
    a = article_starting(built, "XSS <img")
    assert "onerror" in a.title  # the derived title carries the tag too: it must stay text in every template
    soup = page(built, a)
    text = soup.find("main").get_text()
    assert "<script>alert('xss-script')</script>" in text
    assert "onerror=\"alert('xss-img')\"" in text and "**不是粗体**" in text
    assert not any("alert(" in (s.string or "") for s in soup.find_all("script"))
    assert not soup.find_all("img", src="x")
    handlers = [v for tag in soup.find_all(True) for k, v in tag.attrs.items() if k.startswith("on")]
    assert not [v for v in handlers if "alert" in v]  # the theme's own onclick buttons are fine
    assert not soup.find("main").find_all("a", href=lambda h: h and h.startswith("javascript"))


def test_hostile_fences_roles_and_substitutions_stay_text(built):
    a = article_starting(built, "```{code-cell}")
    text = page(built, a).find("main").get_text()
    for literal in ("```{code-cell} ipython3 import pathlib", "{eval-rst} .. raw:: html", "未闭合的 $ 美元符号",
                    "{{ jinja_var }}", "|substitution|", "{sub-ref}`today`"):
        assert literal in text, literal
    nb = jupytext.read(built / a.path)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert [c.cell_type for c in nb.cells if "PWNED" in c.source] == ["markdown"]
    assert not list(built.rglob("PWNED"))


def test_unsafe_math_is_literal_but_safe_math_is_typeset(built):
    a = article_starting(built, "% a MyST comment")
    main = page(built, a).find("main")
    assert r"\href{javascript:alert(1)}{click}" in main.get_text()
    assert [m.get_text() for m in main.select(".math")] == [r"\(x^2\)"]
    assert "% a MyST comment, then ::: colon fence and 1. a list, $$ unbalanced" in main.get_text()


def test_chinese_search_index_is_segmented(built):
    raw = (built / "_build" / "html" / "searchindex.js").read_text(encoding="utf-8")
    terms = json.loads(raw[len("Search.setIndex("):-1])["terms"]
    assert {"感受野", "自监督", "随机森林"} <= set(terms)


def test_home_page_lists_topics_and_newest_articles(built):
    soup = BeautifulSoup((built / "_build" / "html" / "book" / "index.html").read_text(encoding="utf-8"), "html.parser")
    text = soup.find("main").get_text()
    assert "生成模型" in text and "视觉" in text
    ddp = article_starting(built, "Quick Start")
    assert ddp.title in text and "2026-01-11" in text  # the only dated article is the newest


def test_incremental_build_follows_curated_front_matter_changes(tmp_path):
    """The Sphinx environment is pickled between builds: lists must not show stale titles or tags."""
    import shutil

    from runner import engine
    from book.site import build_site
    from ingest.article_file import ArticleFile
    from ingest.sync import ingest
    from tests.conftest import SAMPLE_FEEDS, make_project

    root = make_project(tmp_path / "kb")
    shutil.copy(SAMPLE_FEEDS / "004_32b30477382017ad.txt", root / "feeds")
    ingest(root, [root / "feeds"])
    engine.run(root, progress=False)
    assert build_site(root, quiet=True)[0] == 0
    path = root / next(a for a in load_articles(root) if a.text.startswith("Quick Start")).path
    af = ArticleFile.read(path)
    af.meta["title"] = "改过的标题 DDP"
    af.meta["tags"] = ["新标签"]
    path.write_text(af.render(), encoding="utf-8")
    ingest(root, [root / "feeds"])
    assert build_site(root, quiet=True)[0] == 0
    home = (root / "_build/html/book/index.html").read_text(encoding="utf-8")
    tags = (root / "_build/html/book/tags.html").read_text(encoding="utf-8")
    assert "改过的标题 DDP" in home
    assert "新标签" in tags and "改过的标题 DDP" in tags


def test_article_without_code_is_marked_on_its_page_the_home_page_and_the_status_page(built):
    from runner.records import NO_CODE_LABEL

    a = article_starting(built, "Quick Start")
    badge = page(built, a).select_one(".kb-badge.kb-badge-no-code")
    assert badge is not None and badge.get_text(strip=True) == NO_CODE_LABEL
    home = BeautifulSoup((built / "_build/html/book/index.html").read_text(encoding="utf-8"), "html.parser")
    newest = [li for li in home.select("main ul.kb-article-list li") if a.title in li.get_text()]
    assert newest and all(li.select_one(".kb-no-code") for li in newest)
    status = BeautifulSoup((built / "_build/html/book/status.html").read_text(encoding="utf-8"), "html.parser")
    (row,) = [tr for tr in status.select("table.kb-status tbody tr") if a.title in tr.get_text()]
    cells = [td.get_text(strip=True) for td in row.find_all("td")]
    assert cells[1] == NO_CODE_LABEL and cells[2] == "—" and cells[4] == "no code"
    n = len(load_articles(built))
    assert f"{n} 篇文章 · articles: 0 ok, {n} {NO_CODE_LABEL}, 0 failed / timed out." in status.get_text()
    assert not status.select("section[id^=failure-]")


def test_articles_without_code_are_not_failures(built):
    import subprocess
    import sys

    from tests.conftest import REPO

    proc = subprocess.run([sys.executable, "-m", "book", "--root", str(built), "report"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "0 ok, 42 without code yet, 0 failed/timed out" in proc.stdout
