"""Small networks shared by several notebooks (plumbing only; each article's idea stays inline)."""
from __future__ import annotations

import math


def time_mlp(dim: int = 2, hidden: int = 128, depth: int = 3, n_freq: int = 8):
    """A time-conditioned MLP ``net(x, t) -> R^dim`` for 2-D diffusion / flow toys.

    ``t`` is one scalar per row (shape [N] or [N, 1]), best kept roughly in [0, 1] (pass e.g.
    a normalised log-sigma otherwise); it enters as [t, sin(k*pi*t), cos(k*pi*t)], k = 1..n_freq.
    """
    import torch
    from torch import nn

    class TimeMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("freqs", torch.arange(1, n_freq + 1, dtype=torch.float32) * math.pi)
            layers, width = [], dim + 1 + 2 * n_freq
            for _ in range(depth):
                layers += [nn.Linear(width, hidden), nn.SiLU()]
                width = hidden
            layers.append(nn.Linear(width, dim))
            self.net = nn.Sequential(*layers)

        def forward(self, x, t):
            t = t.reshape(-1, 1).to(x.dtype).expand(x.shape[0], 1)
            ft = t * self.freqs
            return self.net(torch.cat([x, t, torch.sin(ft), torch.cos(ft)], dim=1))

    return TimeMLP()
