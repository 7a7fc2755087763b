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

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

from .. import checks
from ._checks import check_module, check_progress, user_data

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
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
) -> list[float]:
    """Train ``model`` in place on ``(inputs, targets)`` batches; returns the mean loss per epoch.

    ``optimizer`` is ``"adam"`` or ``"sgd"`` (momentum 0.9); ``loss_fn`` defaults to
    cross-entropy. ``progress`` is ``True`` (print one line per epoch) or a callable
    ``(epoch, mean_loss)``. Ctrl-C stops after the current batch and returns the losses so far.

    ``checkpoint`` : a file written after every epoch (model and optimizer state dicts, the
    losses; replaced atomically, read back with ``torch.load(..., weights_only=True)``).
    ``resume=True`` loads it and runs only the epochs not done yet, so an interrupted
    fine-tuning continues where its last finished epoch left it.
    """
    check_module(model)
    _check_loader(loader)
    checks.check_int(epochs, "epochs", 0)
    checks.check_real(lr, "lr", low=0, open_low=True)
    check_progress(progress)
    checks.check_checkpoint(checkpoint, resume)
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {loss_fn!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    state = None
    if resume and os.path.exists(checkpoint):
        state = torch.load(checkpoint, weights_only=True)
        model.load_state_dict(state["model"])  # before the optimizer: low-rank layers resize
    params = [p for p in model.parameters() if p.requires_grad]
    opt = (
        torch.optim.Adam(params, lr=lr)
        if optimizer == "adam"
        else torch.optim.SGD(params, lr=lr, momentum=0.9)
    )
    history: list[float] = [] if state is None else [float(v) for v in state["history"]]
    if state is not None:
        opt.load_state_dict(state["optimizer"])
    model.train()
    try:
        for epoch in range(len(history), int(epochs)):
            total, count = 0.0, 0
            for x, y in _batches(loader):
                opt.zero_grad()
                with user_data("a loader batch"):
                    loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()
                total, count = total + float(loss.detach()) * len(x), count + len(x)
            history.append(total / max(count, 1))
            if checkpoint is not None:
                _save(checkpoint, model, opt, history)
            if callable(progress):
                progress(epoch, history[-1])
            elif progress:
                print(f"epoch {epoch + 1}/{epochs}: loss {history[-1]:.4f}")
    except KeyboardInterrupt:
        pass
    model.eval()
    return history


def _save(path: str | os.PathLike, model: nn.Module, opt: torch.optim.Optimizer, history) -> None:
    """Write the checkpoint to a temporary file, then move it over ``path`` (never half a
    file, even on Ctrl-C)."""
    tmp = f"{os.fspath(path)}.tmp"
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "history": history}
    torch.save(state, tmp)
    os.replace(tmp, path)


def evaluate(model: nn.Module, loader: Iterable) -> float:
    """Classification accuracy (fraction of argmax hits) of ``model`` on ``loader``."""
    check_module(model)
    _check_loader(loader)
    mode = model.training
    model.eval()
    hits, count = 0, 0
    try:
        with torch.no_grad(), user_data("a loader batch"):
            for x, y in _batches(loader):
                hits += int((model(x).argmax(dim=-1) == y).sum())
                count += len(y)
    finally:
        model.train(mode)
    if count == 0:
        raise ValueError("loader yielded no samples: the accuracy is undefined")
    return hits / count


def _check_loader(loader: Any) -> None:
    if not isinstance(loader, Iterable) or isinstance(loader, (str, bytes, torch.Tensor)):
        raise TypeError(
            f"loader must be an iterable of (inputs, targets) batches, got {type(loader).__name__}"
        )


def _batches(loader: Iterable) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The ``(inputs, targets)`` pairs of ``loader``; ``ValueError`` naming it otherwise."""
    for batch in loader:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError(
                f"loader must yield (inputs, targets) pairs, got a {type(batch).__name__}"
            )
        yield batch[0], batch[1]
