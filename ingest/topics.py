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
    description: str = ""  # what belongs here, in both languages: what new excerpts are compared with


TOPICS: tuple[Topic, ...] = (
    Topic("frameworks", "分布式训练与框架", "Distributed training & frameworks",
          ("DDP", "Distributed", "分布式", "tf_export", "Tensorflow", "TensorFlow", "feature_column", "Feature Column",
           "autograd", "nn.functional", "nn.Xxx"),
          "分布式训练与深度学习框架：多卡多机并行训练、数据并行与模型并行、显存优化与通信、PyTorch 和 TensorFlow 的 API 与机制。Distributed training and deep-learning frameworks: parallelism across GPUs and machines, memory and communication, PyTorch and TensorFlow internals and APIs."),
    Topic("generative", "生成模型", "Generative models",
          ("flow", "Flow", "NICE", "DDPM", "Diffusion", "扩散", "score", "Score", "SDE", "生成模型", "自回归"),
          "生成模型：学习数据分布并从中采样，如自回归模型、流模型、扩散模型、基于分数的模型、变分推断与隐变量模型。Generative models: learning a data distribution and sampling from it: autoregressive, flows, diffusion, score-based, latent-variable models."),
    Topic("self-supervised", "自监督与多模态", "Self-supervised & multimodal",
          ("自监督", "Self-Supervised", "self-supervised", "CLIP", "BLIP", "MMBench", "对比", "contrastive", "表示学习"),
          "自监督与多模态：不用人工标注学习表示，对比学习、预训练与微调、图文多模态模型及其评测。Self-supervised and multimodal learning: representations without labels, contrastive learning, pre-training, image-text models and their evaluation."),
    Topic("vision", "视觉", "Computer vision",
          ("RCNN", "卷积", "Conv", "EfficientNet", "感受野", "RF", "目标检测", "图像"),
          "计算机视觉：图像识别、目标检测与分割的网络结构，卷积、感受野、骨干网络的设计与缩放。Computer vision: architectures for image recognition, detection and segmentation; convolutions, receptive fields, backbone design and scaling."),
    Topic("classic-ml", "经典机器学习", "Classic machine learning",
          ("随机森林", "Random Forest", "AdaBoost", "GBDT", "XGBoost", "Bagging", "Boosting", "决策树", "集成学习"),
          "经典机器学习：决策树、集成学习、提升方法、聚类、线性模型等深度学习之外的统计学习方法。Classic machine learning: decision trees, ensembles, boosting, clustering, linear models and other statistical learning beyond deep nets."),
    Topic("training-llm", "训练技巧与大模型", "Training techniques & LLMs",
          ("FP32", "FP16", "混合精度", "Attention", "注意力", "语言模型", "LLM", "Medusa", "激活函数", "偏置", "重参数"),
          "训练技巧与大模型：让神经网络训练得好、跑得快的技巧，网络层与激活函数、数值精度、注意力的高效实现、语言模型与解码。Training techniques and LLMs: making networks train well and fast: layers and activations, numeric precision, efficient attention, language models and decoding."),
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


KEYWORD_HEAD = 300  # keywords count in the excerpt's opening, where it names its subject


def keyword_hits(text: str) -> dict[str, int]:
    """How often each known topic's keywords occur in the excerpt's opening, by topic key."""
    head = text[:KEYWORD_HEAD]
    return {t.key: sum(head.count(k) for k in t.keywords) for t in TOPICS}


def guess_topic(text: str) -> Topic:
    """A provisional topic from keyword hits in the excerpt's opening; curators correct it."""
    hits = keyword_hits(text)
    scores = [(hits[t.key], -i, t) for i, t in enumerate(TOPICS)]
    best = max(scores, key=lambda s: s[:2])
    return best[2] if best[0] > 0 else UNCATEGORISED
