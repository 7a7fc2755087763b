"""Sphinx extension: the ``error-index`` directive lists every error message tnkit can raise.

The messages are read from the source (``ast``) when the docs are built, so the list cannot
drift from the code: for each module under the packages named in the directive's argument,
every ``raise SomeError("...")`` whose message is a string or f-string becomes one row,
``{...}`` standing for the values the message fills in. Usage::

    ```{error-index} tnkit solvers
    ```
"""

from __future__ import annotations

import ast
import os
from typing import Any

from docutils import nodes
from sphinx.util.docutils import SphinxDirective


def _template(node: ast.expr) -> str | None:
    """The message of a raise as text with ``{...}`` for interpolated values."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(str(v.value))
            else:
                parts.append("{" + ast.unparse(v.value) + "}")
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _template(node.left), _template(node.right)
        return None if left is None else left + (right if right is not None else "{...}")
    return None


def messages(path: str) -> list[tuple[str, str, str]]:
    """``(exception, message, function)`` for every raise with a literal message in ``path``."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    out = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = where
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{where}.{child.name}" if where else child.name
            if isinstance(child, ast.Raise) and isinstance(child.exc, ast.Call):
                func, args = child.exc.func, child.exc.args
                exc = func.id if isinstance(func, ast.Name) else None
                text = _template(args[0]) if args else None
                if exc and exc.endswith("Error") and text:
                    out.append((exc, " ".join(text.split()), where or "(module)"))
            visit(child, name)

    visit(tree, "")
    return out


class ErrorIndex(SphinxDirective):
    required_arguments = 1
    final_argument_whitespace = True

    def run(self) -> list[nodes.Node]:
        root = os.path.dirname(self.env.app.confdir)
        out: list[nodes.Node] = []
        for package in self.arguments[0].split():
            for folder, dirs, files in sorted(os.walk(os.path.join(root, package))):
                dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
                for file in sorted(files):
                    if not file.endswith(".py"):
                        continue
                    path = os.path.join(folder, file)
                    self.env.note_dependency(path)
                    rows = messages(path)
                    if not rows:
                        continue
                    module = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
                    module = module.removesuffix(".__init__")
                    out.append(nodes.paragraph("", "", nodes.strong(module, module)))
                    items = nodes.bullet_list()
                    for exc, text, where in rows:
                        para = nodes.paragraph()
                        para += [nodes.literal(exc, exc), nodes.Text(" in ")]
                        para += [nodes.literal(where, where), nodes.Text(": ")]
                        para += nodes.literal(text, text)
                        items += nodes.list_item("", para)
                    out.append(items)
        return out


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("error-index", ErrorIndex)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
