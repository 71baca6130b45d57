"""One plot style for every article, plus the 2-D density pictures flows and diffusion use."""
from __future__ import annotations

import numpy as np


def setup(dpi: int = 90):
    """Consistent, compact figures; a CJK-capable font when one is installed."""
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    matplotlib.rcParams.update({"figure.dpi": dpi, "axes.grid": True, "grid.alpha": 0.3,
                                "axes.spines.top": False, "axes.spines.right": False})
    cjk = [f.name for f in font_manager.fontManager.ttflist
           if any(k in f.name for k in ("Noto Sans CJK", "WenQuanYi", "SimHei", "Source Han"))]
    if cjk:
        matplotlib.rcParams["font.sans-serif"] = [cjk[0], "DejaVu Sans"]
        matplotlib.rcParams["axes.unicode_minus"] = False
    return plt


def samples_vs_target(samples: np.ndarray, target: np.ndarray, title: str = "", ax=None, lim: float | None = None):
    """Scatter generated samples over target samples (the usual check for a 2-D generative model)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    ax.scatter(target[:, 0], target[:, 1], s=3, alpha=0.3, label="target")
    ax.scatter(samples[:, 0], samples[:, 1], s=3, alpha=0.3, label="model")
    if lim:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(markerscale=4, loc="upper right")
    return ax


def density_grid(log_prob_fn, lim: float = 3.0, n: int = 120):
    """Evaluate a log-density on an n x n grid: returns (xx, yy, density)."""
    xs = np.linspace(-lim, lim, n, dtype=np.float32)
    xx, yy = np.meshgrid(xs, xs)
    pts = np.stack([xx.ravel(), yy.ravel()], 1)
    logp = np.asarray(log_prob_fn(pts)).reshape(n, n)
    return xx, yy, np.exp(logp)


def show_density(log_prob_fn, lim: float = 3.0, n: int = 120, title: str = "", ax=None):
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    xx, yy, p = density_grid(log_prob_fn, lim, n)
    ax.pcolormesh(xx, yy, p, shading="auto", cmap="viridis")
    ax.set_aspect("equal")
    ax.set_title(title)
    return ax
