"""Sphinx extension: execute the code blocks of the docs pages, so they cannot drift.

Every page that is not a notebook gets one namespace and one fresh temporary working folder;
its code blocks run there in page order while Sphinx reads the page:

* ``python`` blocks are executed with ``exec`` (matplotlib uses the Agg backend);
* ``bash``/``console``/``shell`` blocks are run when every command line in them is a
  ``tnkit ...`` or ``python -m tnkit...`` command (``$ `` prompts are allowed); other shell blocks
  (``pip install``, ``make``) are shown, not run.

* doctest blocks (``>>>`` examples, in the pages and in the docstrings of the API reference)
  are run by :mod:`doctest` with ``ELLIPSIS`` and ``NORMALIZE_WHITESPACE``; ``# doctest: +SKIP``
  works as usual.

A block whose first line starts with ``# not run`` is skipped (say why on that line: for
example ``# not run: needs a CUDA GPU``). A block that raises or a command that exits non-zero
emits a warning at the block's line, which ``sphinx-build -W`` turns into a failed build.
Notebook pages (MyST-NB, ``kernelspec`` front matter) are executed by MyST-NB instead.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import os
import shlex
import subprocess
import sys
import tempfile
import traceback
from typing import Any

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)

PYTHON = ("python", "python3", "py")
SHELL = ("bash", "console", "shell", "sh")
SKIP = "# not run"


def _commands(source: str) -> list[list[str]] | None:
    """The ``tnkit`` command lines of a shell block, or None when it is not all tnkit commands."""
    out = []
    for line in source.replace("\\\n", " ").splitlines():
        line = line.strip().removeprefix("$ ")
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:  # not a shell line we can read: show it, do not run it
            return None
        if words[:1] == ["tnkit"]:
            out.append([sys.executable, "-m", "tnkit.cli", *words[1:]])
        elif words[:3] in (["python", "-m", "tnkit.cli"], ["python", "-m", "tnkit"]):
            out.append([sys.executable, "-m", "tnkit.cli", *words[3:]])
        else:
            return None
    return out or None


def _run_python(source: str, namespace: dict[str, Any]) -> str | None:
    if "matplotlib" not in sys.modules:
        import matplotlib

        matplotlib.use("Agg")  # figures of plain code blocks are drawn, never shown
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            exec(compile(source, "<docs code block>", "exec"), namespace)
    except BaseException:  # noqa: BLE001 - reported as a build warning
        return traceback.format_exc(limit=-3)
    finally:
        _close_figures()
    return None


def _run_doctest(source: str, namespace: dict[str, Any], name: str) -> str | None:
    test = doctest.DocTestParser().get_doctest(source, namespace, name, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out = io.StringIO()
    try:
        runner.run(test, out=out.write, clear_globs=False)
    finally:
        _close_figures()
    return out.getvalue() or None


def _run_shell(commands: list[list[str]], env: dict[str, str]) -> str | None:
    for cmd in commands:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        if done.returncode != 0:
            shown = " ".join(["tnkit", *cmd[3:]])
            return f"`{shown}` exited {done.returncode}: {done.stderr.strip()[-800:]}"
    return None


def _close_figures() -> None:
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def _is_notebook(app: Any, docname: str) -> bool:
    metadata = app.env.metadata.get(docname, {})
    return "kernelspec" in metadata or "jupytext" in metadata


def execute_blocks(app: Any, doctree: nodes.document) -> None:
    """``doctree-read`` handler: run the page's code blocks (see module docstring)."""
    docname = app.env.docname
    if _is_notebook(app, docname):
        return
    code_too = not docname.startswith(tuple(app.config.exec_blocks_skip_docs))

    def runnable(node: nodes.Node) -> bool:
        if isinstance(node, nodes.doctest_block):
            return True
        return (
            code_too
            and isinstance(node, nodes.literal_block)
            and node.get("language") in PYTHON + SHELL
            and not node.astext().startswith(SKIP)
        )

    blocks = list(doctree.findall(runnable))
    if not blocks:
        return
    root = os.path.dirname(app.confdir)
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    namespace: dict[str, Any] = {"__name__": f"docs.{docname}"}
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="tnkit-docs-") as tmp:
        os.chdir(tmp)
        try:
            for block in blocks:
                if isinstance(block, nodes.doctest_block):
                    error = _run_doctest(block.astext(), namespace, docname)
                elif block["language"] in PYTHON:
                    error = _run_python(block.astext(), namespace)
                else:
                    commands = _commands(block.astext())
                    error = None if commands is None else _run_shell(commands, env)
                if error:
                    logger.warning("code block failed:\n%s", error, location=block)
        finally:
            os.chdir(cwd)


def setup(app: Any) -> dict[str, Any]:
    app.add_config_value("exec_blocks_skip_docs", (), "env")
    app.connect("doctree-read", execute_blocks)
    return {"version": "1.0", "parallel_read_safe": False, "parallel_write_safe": True}
