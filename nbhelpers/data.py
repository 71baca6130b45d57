"""Toy datasets that need no download: 2-D densities, scikit-learn's digits, the feed text."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent


def two_moons(n: int = 2048, noise: float = 0.05, seed: int = 0, standardize: bool = True) -> np.ndarray:
    """scikit-learn's two moons as float32, optionally scaled to zero mean / unit variance."""
    from sklearn.datasets import make_moons

    x, _ = make_moons(n_samples=n, noise=noise, random_state=seed)
    x = x.astype(np.float32)
    if standardize:
        x = (x - x.mean(0)) / x.std(0)
    return x


def gaussian_mixture_params(k: int = 8, radius: float = 4.0, std: float = 0.5):
    """Means on a circle, equal weights: a 2-D target whose density and score are known exactly."""
    angles = 2 * math.pi * np.arange(k) / k
    means = np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1).astype(np.float32)
    weights = np.full(k, 1.0 / k, dtype=np.float32)
    return means, np.float32(std), weights


def sample_gaussian_mixture(n: int, means: np.ndarray, std: float, weights=None, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = len(means)
    comp = rng.choice(k, size=n, p=weights if weights is not None else np.full(k, 1.0 / k))
    return (means[comp] + std * rng.standard_normal((n, 2))).astype(np.float32)


def digits(binarize: bool = False, scale: bool = True, seed: int = 0):
    """scikit-learn's bundled 8x8 digits: (X float32 of shape [n, 64], y int64), shuffled."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.data.astype(np.float32)
    if scale:
        x = x / 16.0
    if binarize:
        x = (x > 0.5).astype(np.float32)
    y = d.target.astype(np.int64)
    idx = np.random.default_rng(seed).permutation(len(x))
    return x[idx], y[idx]


DIGIT_NAMES_ZH = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"]
DIGIT_NAMES_EN = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def knowledge_base_texts(root: Path | str | None = None) -> list[str]:
    """The plain feed text of every article in the knowledge base (corpus for the LM notebooks)."""
    from ingest.store import load_articles

    return [a.text for a in load_articles(Path(root) if root else REPO_ROOT)]



def _gmm_noised_parts(x, means, std, weights, a, b):
    """Shared by the two GMM functions below: (x, diff [...,K,d], var [...,1] or scalar, log w [K])."""
    import torch

    x = torch.as_tensor(x)
    kw = dict(dtype=x.dtype, device=x.device)
    mu = torch.as_tensor(means, **kw)                                                   # [K, d]
    k = mu.shape[0]
    w = torch.full((k,), 1.0 / k, **kw) if weights is None else torch.as_tensor(weights, **kw)

    def per_row(c):  # scalar stays scalar; shape x.shape[:-1] or x.shape[:-1]+(1,) becomes [..., 1]
        c = torch.as_tensor(c, **kw)
        return c if c.dim() == 0 or c.dim() == x.dim() else c[..., None]

    a, b = per_row(a), per_row(b)
    var = a ** 2 * float(std) ** 2 + b ** 2                                             # [..., 1] or scalar
    diff = x[..., None, :] - (a[..., None] if a.dim() else a) * mu                      # [..., K, d]
    return x, diff, var, torch.log(w)


def gmm_noised_log_prob(x, means, std, weights=None, a=1.0, b=0.0):
    """Exact log-density of ``a * X0 + b * eps``, X0 ~ isotropic GMM(means, std^2 I, weights), eps ~ N(0, I).

    torch in, torch out (any device/dtype). ``a``/``b`` are floats or per-row tensors (shape
    ``x.shape[:-1]`` or ``x.shape[:-1] + (1,)``). The noised law is again a GMM with means ``a*mu_k``
    and variance ``a^2 std^2 + b^2``: the analytic reference the diffusion notebooks check against.
    """
    import torch

    x, diff, var, logw = _gmm_noised_parts(x, means, std, weights, a, b)
    d = x.shape[-1]
    log_comp = -0.5 * (diff ** 2).sum(-1) / var - 0.5 * d * torch.log(2 * math.pi * var)
    return torch.logsumexp(log_comp + logw, dim=-1)


def gmm_noised_score(x, means, std, weights=None, a=1.0, b=0.0):
    """Exact score ``grad_x log p(x)`` of ``a * X0 + b * eps`` (see :func:`gmm_noised_log_prob`), closed form."""
    import torch

    x, diff, var, logw = _gmm_noised_parts(x, means, std, weights, a, b)
    resp = torch.softmax(-0.5 * (diff ** 2).sum(-1) / var + logw, dim=-1)               # p(component | x)
    return -(resp[..., None] * diff).sum(-2) / var
