"""The knowledge base's topics: book chapters, article folders, and a keyword guess for new articles.

An article's ``topic`` front-matter field holds the Chinese name. Curators may invent a new
topic by writing a new name there; it gets a chapter of its own after the known ones.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    key: str  # folder under articles/ and the chapter page's file name
    name: str  # Chinese name, as written in front matter
    name_en: str
    keywords: tuple[str, ...] = ()


TOPICS: tuple[Topic, ...] = (
    Topic("frameworks", "分布式训练与框架", "Distributed training & frameworks",
          ("DDP", "Distributed", "分布式", "tf_export", "Tensorflow", "TensorFlow", "feature_column", "Feature Column",
           "autograd", "nn.functional", "nn.Xxx")),
    Topic("generative", "生成模型", "Generative models",
          ("flow", "Flow", "NICE", "DDPM", "Diffusion", "扩散", "score", "Score", "SDE", "生成模型", "自回归")),
    Topic("self-supervised", "自监督与多模态", "Self-supervised & multimodal",
          ("自监督", "Self-Supervised", "self-supervised", "CLIP", "BLIP", "MMBench", "对比", "contrastive", "表示学习")),
    Topic("vision", "视觉", "Computer vision",
          ("RCNN", "卷积", "Conv", "EfficientNet", "感受野", "RF", "目标检测", "图像")),
    Topic("classic-ml", "经典机器学习", "Classic machine learning",
          ("随机森林", "Random Forest", "AdaBoost", "GBDT", "XGBoost", "Bagging", "Boosting", "决策树", "集成学习")),
    Topic("training-llm", "训练技巧与大模型", "Training techniques & LLMs",
          ("FP32", "FP16", "混合精度", "Attention", "注意力", "语言模型", "LLM", "Medusa", "激活函数", "偏置", "重参数")),
)
UNCATEGORISED = Topic("uncategorised", "未分类", "Uncategorised")
_BY_NAME = {t.name: t for t in TOPICS + (UNCATEGORISED,)}


def topic_named(name: str) -> Topic:
    """The topic for a front-matter name; an unknown name is a curator's new topic."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    key = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "topic-" + hashlib.sha1(name.encode()).hexdigest()[:6]
    return Topic(key, name, name)


def topic_order(name: str) -> tuple[int, str]:
    """Known topics in table order, then curators' new ones by name, then the uncategorised."""
    known = [t.name for t in TOPICS]
    if name in known:
        return known.index(name), ""
    return (len(known) + 1, "") if name == UNCATEGORISED.name else (len(known), name)


def guess_topic(text: str) -> Topic:
    """A provisional topic from keyword hits in the excerpt's opening; curators correct it."""
    head = text[:300]
    scores = [(sum(head.count(k) for k in t.keywords), -i, t) for i, t in enumerate(TOPICS)]
    best = max(scores, key=lambda s: s[:2])
    return best[2] if best[0] > 0 else UNCATEGORISED
