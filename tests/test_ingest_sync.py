"""Whole ingest runs: stable identity, idempotency, curated fields, failures, list, toc."""
import json
import random
import shutil
import subprocess
import sys

import pytest
import yaml

from ingest.article_file import BEGIN_MARK, END_MARK, ArticleFile, ArticleFileError, dump_yaml, load_yaml
from ingest.cli import main as ingest_main
from ingest.store import load_articles
from ingest.sync import ingest
from ingest.toc import write_toc
from ingest.topics import topic_named
from tests.conftest import REPO, SAMPLE_FEEDS, snapshot, write_feed

LONG = "随机森林是一种利用CART决策树作为基学习器的Bagging集成学习算法,随机森林模型的构建过程如下:数据采样,作为一种Bagging集成算法"


def ingest_samples(root):
    for f in SAMPLE_FEEDS.glob("*.txt"):
        shutil.copy(f, root / "feeds" / f.name)
    return ingest(root, [root / "feeds"])


def test_sample_feeds_become_39_article_notebooks(project):
    report = ingest_samples(project)
    assert report.ok and len(report.created) == 39
    articles = load_articles(project)
    assert len(articles) == 39
    ddp = next(a for a in articles if "DDP" in a.text[:40])
    assert (ddp.category, ddp.date) == ("Python", "2026-01-11")
    assert [f["file"] for f in ddp.feeds] == ["000_2a5cacdba8bfe7b5.txt", "004_32b30477382017ad.txt"]
    meta = ArticleFile.read(project / ddp.path).meta
    assert meta["kernelspec"]["name"] == "python3" and meta["feed_hash"].startswith("sha256:")


def test_second_run_leaves_every_file_byte_identical(project):
    ingest_samples(project)
    before = snapshot(project)
    report = ingest(project, [project / "feeds"])
    assert report.ok and not report.created and not report.updated
    assert snapshot(project) == before


def test_reingest_keeps_slug_file_curated_fields_and_implementation(project):
    write_feed(project / "feeds" / "a.txt", LONG[:50] + "...")
    ingest(project, [project / "feeds"])
    (path,) = list((project / "articles").rglob("*.md"))
    af = ArticleFile.read(path)
    af.meta.update(title="随机森林", title_en="Random forests", tags=["ensemble"], topic="经典机器学习")
    af.implementation += "\n```{code-cell} ipython3\nassert 1 + 1 == 2  # mine\n```\n"
    path.write_text(af.render(), encoding="utf-8")
    curated_impl = af.implementation

    # The same article arrives again, cut longer, from another feed on another line.
    write_feed(project / "feeds" / "b.txt", "Python", LONG + "...")
    report = ingest(project, [project / "feeds"])
    assert report.ok and report.updated == [path] and not report.created
    after = ArticleFile.read(path)
    assert after.meta["slug"] == af.meta["slug"] and list((project / "articles").rglob("*.md")) == [path]
    assert (after.meta["title"], after.meta["title_en"], after.meta["tags"], after.meta["topic"]) == \
        ("随机森林", "Random forests", ["ensemble"], "经典机器学习")
    assert after.implementation == curated_impl
    assert after.meta["excerpt"] == LONG + "..."
    assert after.meta["feeds"] == [{"file": "a.txt", "line": 4}, {"file": "b.txt", "line": 5}]
    assert after.meta["category"] == "Python"


def test_shorter_cut_later_does_not_shrink_the_text(project):
    write_feed(project / "feeds" / "a.txt", LONG + "...")
    ingest(project, [project / "feeds"])
    before = snapshot(project)
    write_feed(project / "feeds" / "a.txt", LONG[:60] + "...")
    ingest(project, [project / "feeds"])
    assert snapshot(project) == before


def test_bad_feed_fails_the_run_but_good_feeds_are_ingested(project, capsys):
    write_feed(project / "feeds" / "good.txt", LONG + "...")
    (project / "feeds" / "empty.txt").write_bytes(b"")
    status = ingest_main(["--root", str(project)])
    err = capsys.readouterr().err
    assert status != 0
    assert "empty.txt" in err and "empty" in err
    assert len(load_articles(project)) == 1


def test_failed_run_leaves_existing_articles_untouched(project):
    ingest_samples(project)
    before = snapshot(project)
    (project / "feeds" / "000_2a5cacdba8bfe7b5.txt").write_bytes(bytes(range(256)))  # now binary
    report = ingest(project, [project / "feeds"])
    assert not report.ok and any("000_2a5cacdba8bfe7b5.txt" in e and "binary" in e for e in report.errors)
    assert snapshot(project) == before
    assert not list(project.rglob("*.tmp"))


def test_broken_article_file_stops_the_run_without_writing(project):
    ingest_samples(project)
    victim = next((project / "articles").rglob("*.md"))
    victim.write_text("no front matter here", encoding="utf-8")
    before = snapshot(project)
    write_feed(project / "feeds" / "new.txt", "一条全新的摘录文本，" + LONG + "...")
    with pytest.raises(ArticleFileError) as err:
        ingest(project, [project / "feeds"])
    assert err.value.path == victim and "nothing was ingested" in str(err.value)
    assert snapshot(project) == before


def test_list_json_has_the_documented_keys(project):
    ingest_samples(project)
    out = subprocess.run([sys.executable, "-m", "ingest", "list", "--json", "--root", str(project)],
                         capture_output=True, text=True, check=True, cwd=REPO).stdout
    records = json.loads(out)
    assert len(records) == 39
    assert set(records[0]) == {"slug", "title", "title_en", "topic", "path", "date", "category", "feeds", "text"}
    ddp = next(r for r in records if r["text"].startswith("Quick Start"))
    assert (project / ddp["path"]).is_file() and ddp["date"] == "2026-01-11"


def test_toc_has_home_then_one_chapter_per_topic_sorted(project):
    ingest_samples(project)
    toc = yaml.safe_load((project / "_toc.yml").read_text(encoding="utf-8"))
    assert toc["root"] == "book/index"
    chapters = toc["parts"][0]["chapters"]
    listed = [s["file"] for c in chapters for s in c["sections"]]
    assert len(listed) == len(set(listed)) == 39
    for c in chapters:
        assert (project / f"{c['file']}.md").is_file()
        slugs = [s["file"].rsplit("/", 1)[1] for s in c["sections"]]
        assert slugs == sorted(slugs)


def test_toc_follows_a_curated_topic_change(project):
    ingest_samples(project)
    path = next((project / "articles").rglob("*.md"))
    af = ArticleFile.read(path)
    af.meta["topic"] = "新的主题"
    path.write_text(af.render(), encoding="utf-8")
    ingest(project, [project / "feeds"])
    toc = yaml.safe_load((project / "_toc.yml").read_text(encoding="utf-8"))
    chapters = toc["parts"][0]["chapters"]
    (chapter,) = [c for c in chapters if "新的主题" in (project / f"{c['file']}.md").read_text(encoding="utf-8")]
    assert chapters.index(chapter) == len(chapters) - 2  # after the known topics, before the uncategorised
    assert [s["file"] for s in chapter["sections"]] == [path.relative_to(project).with_suffix("").as_posix()]


@pytest.mark.parametrize("other_name, first", [("aaa.md", "other"), ("zzz.md", "original")])
def test_an_excerpt_related_to_several_articles_goes_to_the_first_by_path(project, other_name, first):
    write_feed(project / "feeds" / "a.txt", LONG[:50] + "...")
    ingest(project, [project / "feeds"])
    (original,) = list((project / "articles").rglob("*.md"))
    # A second article whose excerpt extends the first one's (two cuts curated apart, say).
    af = ArticleFile.read(original)
    af.meta.update(slug="other-cut", excerpt=LONG[:70] + "...", feeds=[{"file": "old.txt", "line": 9}])
    other = original.with_name(other_name)
    other.write_text(af.render(), encoding="utf-8")
    before = snapshot(project)

    write_feed(project / "feeds" / "b.txt", LONG + "...")
    report = ingest(project, [project / "feeds"])
    updated, untouched = (other, original) if first == "other" else (original, other)
    assert report.updated == [updated] and not report.created
    assert ArticleFile.read(updated).meta["excerpt"] == LONG + "..."
    assert untouched.read_bytes() == before[untouched.relative_to(project).as_posix()]


def test_hand_edits_in_the_feed_region_are_restored(project):
    ingest_samples(project)
    path = sorted((project / "articles").rglob("*.md"))[3]
    af = ArticleFile.read(path)
    af.implementation += "\n```{code-cell} ipython3\nprint('mine')  # people's code\n```\n"
    path.write_text(af.render(), encoding="utf-8")
    clean = path.read_text(encoding="utf-8")
    head, rest = clean.split(BEGIN_MARK, 1)
    region, tail = rest.split(END_MARK, 1)
    edited = region.replace("\n# ", "\n# 改过的标题 ", 1) + "\n<script>alert(1)</script>\n"
    path.write_text(head + BEGIN_MARK + edited + END_MARK + tail, encoding="utf-8")

    report = ingest(project, [project / "feeds"])
    assert report.updated == [path]
    assert path.read_text(encoding="utf-8") == clean
    assert ArticleFile.read(path).implementation == af.implementation
    assert ingest(project, [project / "feeds"]).updated == []


def test_stale_topic_pages_are_removed_and_left_out_of_the_toc(project):
    ingest_samples(project)
    path = sorted((project / "articles").rglob("*.md"))[0]
    af = ArticleFile.read(path)
    old_topic, new_topic = af.meta["topic"], topic_named("新的主题")
    page = project / "book" / "topics" / f"{new_topic.key}.md"
    af.meta["topic"] = new_topic.name
    path.write_text(af.render(), encoding="utf-8")
    ingest(project, [project / "feeds"])
    assert page.is_file() and f"book/topics/{new_topic.key}" in (project / "_toc.yml").read_text(encoding="utf-8")

    af.meta["topic"] = old_topic  # the topic's last article leaves it
    path.write_text(af.render(), encoding="utf-8")
    leftover = project / "book" / "topics" / "dropped-topic.md"  # e.g. from a topic renamed long ago
    leftover.write_text("% Generated by `python -m ingest`: one page per topic.\n", encoding="utf-8")
    ingest(project, [project / "feeds"])
    assert not page.exists() and not leftover.exists()
    toc = (project / "_toc.yml").read_text(encoding="utf-8")
    assert new_topic.key not in toc and "dropped-topic" not in toc
    chapters = yaml.safe_load(toc)["parts"][0]["chapters"]
    assert sorted(c["file"] for c in chapters) == sorted(
        p.relative_to(project).with_suffix("").as_posix() for p in (project / "book" / "topics").glob("*.md"))


def test_toc_from_the_run_equals_the_toc_from_the_files(project):
    """Ingest builds the table of contents from what it holds in memory: it must be what is on disk."""
    for f in sorted(SAMPLE_FEEDS.glob("*.txt"))[:3]:
        shutil.copy(f, project / "feeds" / f.name)
    ingest(project, [project / "feeds"])
    path = sorted((project / "articles").rglob("*.md"))[0]
    af = ArticleFile.read(path)
    af.meta.update(topic="新的主题", slug="a-curated-slug")
    path.write_text(af.render(), encoding="utf-8")
    report = ingest_samples(project)  # creates some, updates some
    assert report.created and report.updated
    assert write_toc(project) == []


def random_yaml_data(rng):
    chars = "ab Z09:#-?&*!|>'\"%@`,[]{}\\/.…。，：（）深度学习 \u200b~=+" + "💡\x85\u2028\ufeff\x07\t\n\r"
    def text(n):
        return "".join(rng.choice(chars[:-9] if rng.random() < 0.6 else chars) for _ in range(rng.randint(0, n)))
    def value(depth):
        r = rng.random()
        if depth < 3 and r < 0.15:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        if depth < 3 and r < 0.25:
            return {text(rng.choice((8, 60))) or "k": value(depth + 1) for _ in range(rng.randint(0, 3))}
        if r < 0.3:
            return rng.choice((1, -3, 2.5, True, None, 10**20, "2026-01-11", "yes", "null", "..."))
        return text(rng.choice((12, 200)))
    return {"slug": text(12), "title": value(0), "feeds": [{"file": text(8), "line": 3}], "excerpt": text(300),
            "extra": value(0)}


def test_fast_yaml_writes_and_reads_exactly_what_pyyaml_does():
    rng = random.Random(5)
    # Keys near the two emitters' (different) limits for a simple key, then random data.
    known = [{"深" * 50: 1}, {"a" * 127: 1}, {"x": {"a" * 128: [1]}}, {"excerpt": "💡 Overview \x85"}]
    for data in known + [random_yaml_data(rng) for _ in range(400)]:
        want = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=10**9)
        assert dump_yaml(data) == want, data
        assert repr(load_yaml(want)) == repr(yaml.safe_load(want))
