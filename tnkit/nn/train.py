"""A short supervised training loop (fine-tuning after compression) and accuracy evaluation.

The loop is the usual one, written out so it can be copied::

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for epoch in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

OPTIMIZERS = ("adam", "sgd")


def fine_tune(
    model: nn.Module,
    loader: Iterable,
    epochs: int = 3,
    lr: float = 3e-4,
    *,
    optimizer: str = "adam",
    loss_fn: Callable | None = None,
    progress: bool | Callable[[int, float], None] = False,
) -> list[float]:
    """Train ``model`` in place on ``(inputs, targets)`` batches; returns the mean loss per epoch.

    ``optimizer`` is ``"adam"`` or ``"sgd"`` (momentum 0.9); ``loss_fn`` defaults to
    cross-entropy. ``progress`` is ``True`` (print one line per epoch) or a callable
    ``(epoch, mean_loss)``. Ctrl-C stops after the current batch and returns the losses so far.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if int(epochs) != epochs or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = (
        torch.optim.Adam(params, lr=lr)
        if optimizer == "adam"
        else torch.optim.SGD(params, lr=lr, momentum=0.9)
    )
    history: list[float] = []
    model.train()
    try:
        for epoch in range(int(epochs)):
            total, count = 0.0, 0
            for x, y in loader:
                opt.zero_grad()
                loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()
                total, count = total + float(loss.detach()) * len(x), count + len(x)
            history.append(total / max(count, 1))
            if callable(progress):
                progress(epoch, history[-1])
            elif progress:
                print(f"epoch {epoch + 1}/{epochs}: loss {history[-1]:.4f}")
    except KeyboardInterrupt:
        pass
    model.eval()
    return history


def evaluate(model: nn.Module, loader: Iterable) -> float:
    """Classification accuracy (fraction of argmax hits) of ``model`` on ``loader``."""
    mode = model.training
    model.eval()
    hits, count = 0, 0
    with torch.no_grad():
        for x, y in loader:
            hits += int((model(x).argmax(dim=-1) == y).sum())
            count += len(y)
    model.train(mode)
    return hits / max(count, 1)
