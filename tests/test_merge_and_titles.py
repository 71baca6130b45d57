"""Dedupe of prefix cuts, provisional titles and slugs."""
import random

from ingest.feed import FeedEntry
from ingest.merge import KEY_LEN, PrefixIndex, merge_entries
from ingest.titles import SLUG_WINDOW, SlugAllocator, make_slug, provisional_title
from tests.merge_reference import reference_merge

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


def test_slug_takes_a_word_whole_when_it_runs_past_the_window():
    text = "层归一化" * 28 + " LayerNorm 和 Transformer 的关系"  # "Transformer" starts at 124, LayerNorm at 113
    assert len("层归一化" * 28 + " LayerNorm") > SLUG_WINDOW > len("层归一化" * 28)
    assert make_slug(text, set()) == "layernorm"
    text = "层归一化" * 29 + " Transformer"  # starts at 117, ends past the window
    assert make_slug(text, set()) == "transformer"


def ab(rng, n):
    return "".join(rng.choice("ab") for _ in range(n))


def random_entries(rng, n):
    """Entries over a two-letter alphabet, so prefix relations (and texts under KEY_LEN) abound."""
    stems = [ab(rng, rng.choice((0, 2, 5, 12, 31, 32, 33, 40, 70))) for _ in range(max(1, n // 3))]
    entries = []
    for i in range(n):
        text = rng.choice(stems)[: rng.randint(0, 80)] + ab(rng, rng.randint(0, 3))
        text = " " * rng.randint(0, 1) + text + rng.choice(("", "...", "…", " ...", "…...", "...…"))
        entries.append(entry(text, f"f{rng.randint(0, 3)}.txt", i + 4,
                             date=rng.choice((None, "2026-01-11")), category=rng.choice((None, "Python"))))
    return entries


def test_merge_matches_the_pairwise_definition_on_random_prefix_cuts():
    rng = random.Random(7)
    for _ in range(60):
        entries = random_entries(rng, rng.randint(1, 120))
        got, want = merge_entries(entries), reference_merge(entries)
        assert [(e.text, e.occurrences, e.date, e.category) for e in got] == \
            [(e.text, e.occurrences, e.date, e.category) for e in want]


def test_prefix_index_finds_the_first_related_item_as_texts_grow():
    rng = random.Random(3)
    for _ in range(40):
        index, texts = PrefixIndex(), []
        for _ in range(150):
            query = ab(rng, rng.choice((0, 1, 3, KEY_LEN - 1, KEY_LEN, KEY_LEN + 5, 60)))
            want = next((i for i, t in enumerate(texts) if t.startswith(query) or query.startswith(t)), None)
            assert index.first_related(query) == want, (texts, query)
            if texts and rng.random() < 0.4:  # an item takes a longer cut, maybe past KEY_LEN
                i = rng.randrange(len(texts))
                texts[i] += ab(rng, rng.randint(1, 40))
                index.replace(i, texts[i])
            elif rng.random() < 0.5:  # items may be related to each other, as existing articles can be
                texts.append(query)
                assert index.add(query) == len(texts) - 1


def test_slug_allocator_hands_out_what_make_slug_would():
    rng = random.Random(1)
    taken, allocator = {"clip-clip-million-image-3"}, SlugAllocator({"clip-clip-million-image-3"})
    for i in range(40):
        text = rng.choice((BASE, "Quick Start " + BASE, "深度学习偏置的作用,我们最早接触到的神经网络..."))
        if rng.random() < 0.2:  # a slug taken meanwhile
            taken.add(allocator.allocate(f"Other words {i} here and there"))
            continue
        want = make_slug(text, taken)
        assert allocator.allocate(text) == want
        taken.add(want)
    assert allocator.taken == taken
