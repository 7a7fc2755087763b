"""Small real data tensors shipped with tnkit (no downloads at run time).

``images.npz`` holds two photographs from scikit-image's bundled data, both public domain:
``coffee`` (Rachel Michetti, CC0) converted to gray and resized to 256 x 256, and ``astronaut``
(Eileen Collins, NASA) resized to 128 x 128 x 3. Both are stored as uint8.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from . import checks

IMAGES = ("coffee", "astronaut")


def image(name: str = "coffee") -> np.ndarray:
    """A bundled photograph as float64 in [0, 1]: ``"coffee"`` (256, 256) or
    ``"astronaut"`` (128, 128, 3)."""
    if name not in IMAGES:
        raise ValueError(f"name must be one of {IMAGES}, got {name!r}")
    with resources.files("tnkit.data").joinpath("images.npz").open("rb") as f:
        with np.load(f, allow_pickle=False) as data:
            return data[name].astype(np.float64) / 255.0


def image_tensor(name: str = "coffee", order: int = 8) -> np.ndarray:
    """The gray ``coffee`` image folded into a higher-order tensor (``4**8`` by default).

    The 256 x 256 pixels are reshaped to ``(2**k, ..., 2**k)`` with ``order`` modes of equal
    size, the usual way a structure search is run on an image (Li & Sun 2020; Li et al. 2022).
    """
    order = checks.check_int(order, "order", 1)
    x = image(name)
    if x.ndim != 2:
        raise ValueError(f"image_tensor needs a gray image, {name!r} has shape {x.shape}")
    bits = int(np.log2(x.size))
    if 2**bits != x.size or bits % order:
        raise ValueError(f"order must divide {bits} (the image has 2**{bits} pixels), got {order}")
    return x.reshape((2 ** (bits // order),) * order)
