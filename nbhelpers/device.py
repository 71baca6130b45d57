"""Device choice and seeding, so every notebook runs the same on CPU and CUDA."""
from __future__ import annotations

import os
import random

import numpy as np


def pick_device(prefer: str | None = None):
    """Return ``torch.device('cuda')`` when a GPU is visible, else CPU.

    ``KB_DEVICE=cpu`` forces the CPU (useful to compare timings on a GPU machine).
    """
    import torch

    wanted = prefer or os.environ.get("KB_DEVICE")
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (all devices) so reruns give the same figures."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:  # a TensorFlow-only notebook
        return
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
