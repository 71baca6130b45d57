"""Dedupe of prefix cuts, provisional titles and slugs."""
from ingest.feed import FeedEntry
from ingest.merge import merge_entries
from ingest.titles import make_slug, provisional_title

BASE = "CLIP算法原理 CLIP 不预先定义图像和文本标签类别,直接利用从互联网爬取的 400 million 个image-text pair 进行图文匹配任务的训练"


def entry(text, file="a.txt", line=4, **kw):
    return FeedEntry(text, file, line, **kw)


def test_shorter_and_longer_cuts_are_one_article_keeping_the_longest():
    short = BASE[:40] + "..."
    merged = merge_entries([entry(short, "a.txt", 4), entry(BASE + "...", "b.txt", 7), entry(BASE[:60] + "...", "c.txt", 5)])
    assert len(merged) == 1
    assert merged[0].text == BASE + "..."
    assert merged[0].occurrences == [("a.txt", 4), ("b.txt", 7), ("c.txt", 5)]


def test_different_texts_with_a_common_start_are_different_articles():
    merged = merge_entries([entry(BASE[:50] + " 其一..."), entry(BASE[:50] + " 其二...")])
    assert len(merged) == 2


def test_metadata_from_any_occurrence_is_kept():
    merged = merge_entries([entry(BASE[:40] + "..."), entry(BASE + "...", date="2026-01-11", category="Python")])
    assert (merged[0].date, merged[0].category) == ("2026-01-11", "Python")


def test_provisional_title_skips_section_headings():
    assert provisional_title("动机 Faster RCNN是首个利用CNN来完成proposals的预测的,之后的很多目标检测网络...").startswith("Faster RCNN")
    for heading in ("背景", "相关内容", "Overview", "Quick Start", "💡", "简介", "概述"):
        title = provisional_title(f"{heading} 随机森林是一种利用CART决策树作为基学习器的集成学习算法,构建过程如下...")
        assert not title.startswith(heading) and title.startswith("随机森林"), (heading, title)


def test_provisional_title_is_short():
    assert len(provisional_title("这是一个非常非常长的句子没有任何标点符号" * 5 + "...")) <= 31


def test_slug_is_ascii_and_unique():
    taken = {"clip-clip-million-image"}
    slug = make_slug(BASE, taken)
    assert slug.isascii() and slug not in taken
    assert make_slug("深度学习偏置的作用,我们最早接触到的神经网络...", set()).startswith("article-")
