"""A small full-batch / mini-batch training loop with a tqdm bar, for notebooks whose idea is not the loop."""
from __future__ import annotations

from typing import Callable


def fit(model, loss_fn: Callable, data, steps: int = 1000, lr: float = 1e-3, batch_size: int | None = 256,
        optimizer: str = "adam", seed: int = 0, progress: bool = False, log_every: int = 50) -> list[float]:
    """Minimise ``loss_fn(model, batch)`` over ``data`` (a tensor, or a tuple of tensors sharing dim 0).

    Returns the loss history (one value every ``log_every`` steps) for plotting.
    """
    import torch
    from tqdm import trange  # tqdm.auto wants ipywidgets in a notebook and warns without it

    tensors = data if isinstance(data, (tuple, list)) else (data,)
    n = tensors[0].shape[0]
    gen = torch.Generator(device="cpu").manual_seed(seed)
    opt_cls = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "adamw": torch.optim.AdamW}[optimizer]
    opt = opt_cls(model.parameters(), lr=lr)
    history: list[float] = []
    bar = trange(steps, disable=not progress, leave=False)
    for step in bar:
        if batch_size and batch_size < n:
            idx = torch.randint(0, n, (batch_size,), generator=gen).to(tensors[0].device)
            batch = tuple(t[idx] for t in tensors)
        else:
            batch = tuple(tensors)
        loss = loss_fn(model, *batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % log_every == 0 or step == steps - 1:
            history.append(float(loss.detach()))
            bar.set_postfix(loss=f"{history[-1]:.4f}")
    return history
