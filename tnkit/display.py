"""How a network shows itself: the summary table of nodes, bonds and totals, as text
(``net.summary()``, ``tnkit inspect``) and as HTML (Jupyter's rich display)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # a run-time import would be circular: network imports this module
    from .network import TensorNetwork


def summary_text(net: TensorNetwork) -> str:
    """The summary as aligned plain text."""
    rows, notes = summary_parts(net)
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, width)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in width))
    return "\n".join(lines + notes)


def summary_html(net: TensorNetwork) -> str:
    """The summary as an HTML table (every string escaped)."""
    rows, notes = summary_parts(net)
    esc = html.escape

    def cells(row: tuple[str, ...], tag: str) -> str:
        return "<tr>" + "".join(f"<{tag}>{esc(c)}</{tag}>" for c in row) + "</tr>"

    body = cells(rows[0], "th") + "".join(cells(r, "td") for r in rows[1:])
    title = f"<b>{esc(type(net).__name__)}</b>"
    notes_html = "<br>".join(esc(n) for n in notes)
    return f"<div>{title}<table>{body}</table>{notes_html}</div>"


def summary_parts(net: TensorNetwork) -> tuple[list[tuple[str, ...]], list[str]]:
    """The summary's rows (a header, then one per node) and its closing lines."""
    from .network import TensorNetwork

    if not isinstance(net, TensorNetwork):
        raise TypeError(f"net must be a TensorNetwork, got {type(net).__name__}")
    dims = net.leg_dims
    rows: list[tuple[str, ...]] = [("node", "legs", "shape", "params")]
    for name in net.nodes:
        shape = net[name].shape
        rows.append(
            (name, " ".join(net.legs(name)), "x".join(map(str, shape)), str(int(np.prod(shape))))
        )
    open_desc = ", ".join(f"{g}={dims[g]}" for g in net.open_legs) or "none"
    bond_desc = ", ".join(f"{g}={d}" for g, d in net.bond_dims.items()) or "none"
    notes = [
        f"open legs: {open_desc}",
        f"bonds: {bond_desc}"
        + (f"  (hyper: {', '.join(net.hyper_bonds)})" if net.hyper_bonds else ""),
        f"parameters: {net.n_params:,}  dense size: {net.size:,}  "
        f"compression: {net.compression:.3g}x  backend: {net.backend}",
    ]
    history = getattr(net, "history", None)
    if history:
        notes.append(f"fit: {len(history)} sweeps, relative error {history[-1]:.4g}")
    return rows, notes
