"""Argument checks shared by the public functions of :mod:`tnkit.nn`.

Numbers are checked by :mod:`tnkit.checks` (``check_int``, ``check_real``, ``check_seed``);
this module adds the torch-specific ones: modules, tensors and batches, and the translation of
a failed forward pass on user data into a ``ValueError`` naming that data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn


def check_module(obj: Any, name: str = "model") -> nn.Module:
    """``obj`` must be a ``torch.nn.Module`` (``TypeError`` naming ``name``)."""
    if not isinstance(obj, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(obj).__name__}")
    return obj


def check_tensor(x: Any, name: str) -> torch.Tensor:
    """``x`` must be a non-empty tensor with finite entries (floating tensors are scanned)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty: shape {tuple(x.shape)}")
    if (x.is_floating_point() or x.is_complex()) and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or Inf entries")
    return x


def check_progress(progress: Any) -> None:
    if not isinstance(progress, bool) and not callable(progress):
        raise TypeError(f"progress must be a bool or a callable, got {progress!r}")


@contextlib.contextmanager
def user_data(what: str) -> Iterator[None]:
    """Turn a failed forward pass on user-given data (a shape or dtype torch refuses) into a
    ``ValueError`` naming ``what``; out-of-memory errors pass through."""
    try:
        yield
    except torch.cuda.OutOfMemoryError:
        raise
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{what} does not fit the model: {first}") from err
