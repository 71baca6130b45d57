"""Ingest benchmark (a script, not a timed test): ``python benchmarks/ingest_bench.py``.

Ingests synthetic feeds of 1k, 3k, 10k and 30k distinct excerpts into a scratch project and
prints the time of a first run (every article created) and of a second run over the same feeds
(every article read back, nothing written). The excerpts look like the sample feeds: a few
hundred characters of Chinese and English, some opening with a section heading, a quarter seen
again in another feed, some cut shorter or longer there, and a few cut under 40 characters.

The scratch project starts with the sample book's articles, and topics come as the command line's
default gives them (``--topics embedding``: keywords where they are sure, the bundled model for the
rest, ``ingest.topic_suggestion``); the line says how many excerpts the model saw.
``--topics keyword`` times the keyword guess alone.

For the small sizes it also times the dedupe step against the old pairwise algorithm (the test
suite's reference), side by side, as a ratio. The machine is shared: each run's CPU time is
printed beside its wall time (file writes wait on a busy disk), and ratios measured in one run
compare better than absolute figures across runs. ``--sizes 1000,3000`` picks the sizes.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import shutil  # noqa: E402

from ingest.feed import read_feed  # noqa: E402
from ingest.merge import merge_entries  # noqa: E402
from ingest.sync import ingest  # noqa: E402
from tests.conftest import HEADER, make_project  # noqa: E402
from tests.merge_reference import reference_merge  # noqa: E402

ZH = ("模型", "训练", "梯度", "损失函数", "卷积", "注意力", "参数", "数据", "分布式", "优化器", "特征", "网络",
      "样本", "标签", "推理", "精度", "显存", "批量", "学习率", "正则化", "随机森林", "决策树", "自监督", "扩散",
      "生成", "编码器", "解码器", "向量", "矩阵", "概率", "分布", "采样", "目标检测", "感受野", "激活函数")
EN = ("PyTorch", "DDP", "Transformer", "batch", "layer", "CLIP", "GPU", "loss", "embedding", "token", "FP16",
      "Attention", "encoder", "RCNN", "XGBoost", "score", "SDE", "flow", "tensor", "kernel", "dropout")
GLUE = ("的", "是", "在", "和", "通过", "可以", "对于", "我们", "进行", "使用", "其中", "之后")
PUNCT = ("，", "。", ", ", "：", "; ", " ")
HEADINGS = ("动机 ", "背景 ", "Overview ", "简介 ", "1. ", "💡 ")
CATEGORIES = ("Python", "深度学习", "机器学习", "论文笔记")
FEED_LEN = 100  # entries per feed file


def paragraph(rng: random.Random, length: int) -> str:
    words = [rng.choice(HEADINGS)] if rng.random() < 0.2 else []
    size = sum(map(len, words))
    while size < length:
        r = rng.random()
        if r < 0.003:
            w = rng.choice((r" \(x_i\) ", " [公式] ", r" \[p(x)\] "))
        else:
            w = rng.choice(ZH) if r < 0.5 else f" {rng.choice(EN)} " if r < 0.7 else rng.choice(GLUE if r < 0.9 else PUNCT)
        words.append(w)
        size += len(w)
    return "".join(words).strip()


def cut(text: str, at: int) -> str:
    return text[:at].rstrip() + "..."


def synthetic_entries(n: int, seed: int = 0) -> list[str]:
    """Excerpt lines for ``n`` distinct excerpts, with repeats and longer/shorter cuts."""
    rng = random.Random(seed)
    lines, later = [], []
    for _ in range(n):
        full = paragraph(rng, rng.randint(150, 600))
        first = cut(full, rng.randint(100, len(full))) if rng.random() < 0.3 else full + "..."
        lines.append(first)
        r = rng.random()
        if r < 0.15:
            later.append(full + "...")  # the same excerpt again, maybe longer
        elif r < 0.25:
            later.append(cut(full, rng.randint(60, len(full))))  # a shorter cut elsewhere
        elif r < 0.27:
            later.append(cut(full, rng.randint(8, 30)))  # a very short cut
    # Repeats arrive in later feeds, mixed in among new excerpts.
    out = []
    for line in lines:
        out.append(line)
        if later and rng.random() < 0.3:
            out.append(later.pop(rng.randrange(len(later))))
    return out + later


def write_feeds(folder: Path, lines: list[str], seed: int = 0) -> None:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(lines), FEED_LEN):
        body = []
        for line in lines[start:start + FEED_LEN]:
            if rng.random() < 0.2:
                body.append(rng.choice(CATEGORIES))
            if rng.random() < 0.2:
                body.append(f"2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}")
            body.append(line)
        (folder / f"feed_{start // FEED_LEN:05d}.txt").write_text(HEADER + "\n".join(body) + "\n", encoding="utf-8")


def timed(fn, *args):
    """The result, the wall time and the CPU time of this process (the machine is shared)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


class CountingSuggester:
    """The command line's suggester (``ingest.cli.embedding_topics``), counting the excerpts the
    model embeds; the model is loaded before the clock starts, as a warm cache would have it."""

    def __init__(self):
        from embedding import load_embedder

        self.embedder = load_embedder(progress=False)
        self.embedded = 0

    def embed(self, texts):
        self.embedded += len(texts)
        return self.embedder.embed_queries(texts, progress=True, desc="suggesting topics")

    def __call__(self, curated, texts):
        from ingest.topic_suggestion import suggest_topics

        return suggest_topics(self.embed, curated, texts)


def bench(n: int, quadratic: bool, suggester) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = make_project(Path(tmp) / "kb")
        shutil.copytree(REPO / "articles", root / "articles")
        write_feeds(root / "feeds", synthetic_entries(n))
        if suggester:
            suggester.embedded = 0
        first, wall1, cpu1 = timed(ingest, root, [root / "feeds"], suggester)
        second, wall2, cpu2 = timed(ingest, root, [root / "feeds"], suggester)
        assert first.ok and second.ok and not second.created and not second.updated, (first.errors, second.errors)
        model = f", the model embedded {suggester.embedded} texts" if suggester else ", keyword topics"
        line = (f"{n:>6} excerpts ({first.excerpts} distinct, {len(first.created)} articles{model}): "
                f"first run {wall1:6.2f} s (CPU {cpu1:5.2f} s), second run {wall2:6.2f} s (CPU {cpu2:5.2f} s)")
        if quadratic:
            entries = [e for f in sorted((root / "feeds").glob("*.txt")) for e in read_feed(f)]
            new, t_new, _ = timed(merge_entries, entries)
            old, t_old, _ = timed(reference_merge, entries)
            assert [(e.text, e.occurrences) for e in new] == [(e.text, e.occurrences) for e in old]
            line += f"; dedupe {t_new * 1000:.0f} ms vs pairwise {t_old * 1000:.0f} ms ({t_old / t_new:.0f}x)"
        print(line, flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,3000,10000,30000", help="comma-separated excerpt counts")
    p.add_argument("--topics", choices=("embedding", "keyword"), default="embedding",
                   help="as `python -m ingest --topics` (default: embedding, the command's default)")
    args = p.parse_args()
    suggester = CountingSuggester() if args.topics == "embedding" else None
    for n in (int(s) for s in args.sizes.split(",")):
        bench(n, quadratic=n <= 3000, suggester=suggester)


if __name__ == "__main__":
    main()
