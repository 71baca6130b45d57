"""New excerpts land well: a sensible provisional topic from the embedding space, a readable slug.

The held-out feed (tests/fixtures/new_topics.txt) holds six excerpts on subjects the sample book
covers but none of its articles is about: normalisation layers, ViT, k-means, VAE, ZeRO, MoCo.
"""
import re
import shutil

import numpy as np
import pytest

from ingest.feed import read_feed
from ingest.store import load_articles
from ingest.titles import make_slug
from ingest.topics import guess_topic, topic_named
from ingest.topic_suggestion import suggest_topics
from tests.conftest import FIXTURES, REPO, SAMPLE_FEEDS
from tests.search_support import model_cache_env, shared_embedder

pytestmark = pytest.mark.slow  # embeds the articles with the model

HELD_OUT = FIXTURES / "new_topics.txt"
EXPECTED = ["training-llm", "vision", "classic-ml", "generative", "frameworks", "self-supervised"]
UNRELATED = ["红烧肉的做法：五花肉切块焯水，冰糖炒出糖色，加生抽老抽和八角桂皮，小火炖一个小时，最后大火收汁 ..."]


class RememberingEmbedder:
    """The shared embedder, each distinct text embedded once: leaving each article out in turn
    would otherwise embed the other 38 again 39 times."""

    def __init__(self, embedder):
        self.embedder, self.seen = embedder, {}

    def embed_queries(self, texts):
        todo = [t for t in dict.fromkeys(texts) if t not in self.seen]
        if todo:
            self.seen.update(zip(todo, self.embedder.embed_queries(todo)))
        return np.stack([self.seen[t] for t in texts])


@pytest.fixture(scope="module")
def curated():
    return load_articles(REPO)


@pytest.fixture(scope="module")
def embedder():
    return RememberingEmbedder(shared_embedder())


def held_out_texts():
    return [e.text for e in read_feed(HELD_OUT)]


def keys(names):
    return [topic_named(n).key if n else None for n in names]


def test_held_out_excerpts_mostly_land_in_the_right_chapter(curated, embedder):
    got = keys(suggest_topics(embedder.embed_queries, curated, held_out_texts()))
    right = sum(g == w for g, w in zip(got, EXPECTED))
    keyword_right = sum(guess_topic(t).key == w for t, w in zip(held_out_texts(), EXPECTED))
    assert right >= 5, got
    assert right > keyword_right  # the keyword guess alone gets fewer


def test_each_curated_article_left_out_is_filed_where_curators_put_it(curated, embedder):
    right = sum(suggest_topics(embedder.embed_queries, curated[:i] + curated[i + 1:], [a.text])[0] == a.topic
                for i, a in enumerate(curated))
    assert right >= 0.9 * len(curated), f"{right}/{len(curated)}"


def test_a_subject_with_no_chapter_gets_no_suggestion(curated, embedder):
    assert suggest_topics(embedder.embed_queries, curated, UNRELATED) == [None]


@pytest.mark.parametrize("text", held_out_texts(), ids=lambda t: t[:12])
def test_slugs_are_short_readable_ascii_without_repeats(text):
    slug = make_slug(text, set())
    words = slug.split("-")
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug) and len(slug) <= 40
    assert not slug.startswith("article-") and 1 <= len(words) <= 4
    assert len(set(words)) == len(words)
    assert not any(len(w) == 1 for w in words if w != "k")  # the k of k-means is a word part, not noise


def test_slugs_name_what_the_excerpts_are_about():
    assert [make_slug(t, set()) for t in held_out_texts()] == [
        "layernorm-batchnorm", "vision-transformer-vit", "k-means", "vae-elbo-kl", "zero-adam-deepspeed",
        "moco-query-key"]


def test_ingest_command_files_new_articles_by_suggested_topic(project, capsys):
    for f in SAMPLE_FEEDS.glob("*.txt"):
        shutil.copy(f, project / "feeds" / f.name)
    shutil.copytree(REPO / "articles", project / "articles")  # the curated sample articles
    shutil.copy(HELD_OUT, project / "feeds" / HELD_OUT.name)
    from ingest.cli import main

    with model_cache_env():
        assert main(["--root", str(project)]) == 0
    assert "6 created" in capsys.readouterr().out
    new = {a.feeds[0]["line"]: a for a in load_articles(project) if a.feeds[0]["file"] == HELD_OUT.name}
    got = [topic_named(new[line].topic).key for line in sorted(new)]  # in the feed's order
    assert len(got) == 6 and sum(g == w for g, w in zip(got, EXPECTED)) >= 5, got
    for a in new.values():
        assert a.path.as_posix() == f"articles/{topic_named(a.topic).key}/{a.slug}.md"


class _RecordingEmbed:
    """A stand-in model that records what it is asked to embed (and embeds it nowhere useful)."""

    def __init__(self):
        self.seen: list[str] = []

    def __call__(self, texts):
        self.seen += texts
        return np.tile(np.eye(4, dtype=np.float32)[0], (len(texts), 1))


def test_excerpts_the_keywords_are_sure_of_never_reach_the_model(curated):
    sure = "随机森林与决策树：集成学习里的 Bagging 方法，每棵树用有放回抽样的数据训练。"
    embed = _RecordingEmbed()
    assert keys(suggest_topics(embed, curated, [sure])) == ["classic-ml"]
    assert embed.seen == []  # not even the descriptions or the curated articles
    unsure = "k-means 聚类算法的目标是最小化每个样本到簇中心的距离平方和。"
    suggest_topics(embed, curated, [sure, unsure])
    assert unsure[:20] in "".join(embed.seen) and sure[:20] not in "".join(embed.seen)
