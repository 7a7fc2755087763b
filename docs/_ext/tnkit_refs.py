"""Sphinx extension: cross-references to tnkit and solvers must resolve.

Sphinx (without nitpicky mode) silently prints an unresolved ``{func}`tnkit.foo``` as plain
text, so a renamed function would go unnoticed. This extension handles every Python-domain
reference whose target starts with ``tnkit`` or ``solvers`` that Sphinx could not resolve:

* a public alias (``tnkit.TT``, ``tnkit.tt``, ``solvers.search.greedy``) is imported and
  resolved to the place where the API reference documents the object
  (``tnkit.formats.tt.TT``);
* a name that no longer exists is a warning, which ``sphinx-build -W`` turns into a failed
  build. (A name that exists but that the API reference does not document, such as an
  internal module, stays plain text.)
"""

from __future__ import annotations

import importlib
from typing import Any

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)
PACKAGES = ("tnkit", "solvers")


def _lookup(target: str) -> Any:
    """Import the object named ``target`` (module path, then attributes); None if missing."""
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except Exception:  # noqa: BLE001 - a lazy name whose module is gone is missing too
            return None
        return obj
    return None


def _canonical(target: str) -> str | None:
    """Where ``target`` is defined: ``module.qualname`` of the object it names."""
    obj = _lookup(target)
    if obj is None:
        return None
    if isinstance(obj, type(importlib)):
        return obj.__name__
    owner = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if owner and qualname:
        return f"{owner}.{qualname}"
    # an attribute of a class (a property): canonicalise the class, keep the attribute name
    head, _, tail = target.rpartition(".")
    base = _canonical(head) if head else None
    return f"{base}.{tail}" if base else None


def missing_reference(app: Any, env: Any, node: Any, contnode: nodes.Element) -> Any:
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not target.startswith(PACKAGES):
        return None
    canonical = _canonical(target)
    if canonical and canonical != target:
        domain = env.get_domain("py")
        new = node.deepcopy()
        new["reftarget"] = canonical
        found = domain.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], canonical, new, contnode
        )
        if found is not None:
            return found
        found = domain.resolve_any_xref(env, node["refdoc"], app.builder, canonical, new, contnode)
        if found:
            return found[0][1]
    if canonical is None:
        logger.warning("cross-reference %r: no such object in the code", target, location=node)
    return None


def setup(app: Any) -> dict[str, Any]:
    app.connect("missing-reference", missing_reference)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
