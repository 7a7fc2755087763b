"""Sphinx configuration of the tnkit documentation (built by ``docs/build.sh``).

Pages are MyST Markdown. Pages with a ``kernelspec`` front matter are MyST-NB text notebooks,
executed on every build; the plain ``python`` code blocks of every other page are executed by
the local ``exec_blocks`` extension. The API reference comes from the docstrings (autodoc +
napoleon, numpy style) and the CLI reference from ``tnkit.cli.build_parser()``
(sphinx-argparse). ``sphinx-build -W`` turns every warning, including a failed code block or
cell, into an error, so the docs cannot drift from the code.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the source tree (tnkit, solvers)
sys.path.insert(0, os.path.join(HERE, "_ext"))
os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")  # quiet in-process clusters

import tnkit  # noqa: E402

project = "tnkit"
author = "the tnkit developers"
copyright = "2026, the tnkit developers"
release = version = tnkit.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinxarg.ext",
    "exec_blocks",
    "error_index",
    "tnkit_refs",
]
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
source_suffix = {".md": "myst-nb", ".rst": "restructuredtext"}

# --- MyST / MyST-NB: run every notebook on every build; a failing cell fails the build.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "substitution"]
myst_substitutions = {"version": version}
myst_heading_anchors = 3
nb_execution_mode = "force"
nb_execution_in_temp = True  # notebooks write their files in a temporary folder
nb_execution_timeout = 600  # per cell; each notebook runs in well under 2 minutes on 2 idle cores
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# --- API reference from docstrings (numpy style)
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autosummary_generate = False
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
napoleon_use_param = False  # "name : description" lines would otherwise become type xrefs

# --- exec_blocks: where plain code blocks run
exec_blocks_skip_docs = ("api/",)

html_theme = "furo"
html_title = f"tnkit {release}"
html_theme_options = {"navigation_with_keys": True}
