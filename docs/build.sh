#!/usr/bin/env bash
# Build the documentation site into docs/_build/html, executing every notebook and every code
# block, with warnings as errors (a renamed function, a broken cross-reference or a failing
# example fails the build). Usage: bash docs/build.sh [extra sphinx-build options]
#   PYTHON=path/to/python   the interpreter whose environment has tnkit installed
#                           (default: .venv/bin/python when it exists, else python3)
#   DOCS_SKIP_INSTALL=1     do not pip-install the docs extra first
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
if [[ -z "${DOCS_SKIP_INSTALL:-}" ]]; then
    "$PYTHON" -c "import torch" 2>/dev/null || "$PYTHON" -m pip install -q torch==2.13.0
    "$PYTHON" -m pip install -q -e ".[docs,dask,plot,io,dev]"
fi
export PYDEVD_DISABLE_FILE_VALIDATION=1
# the build's own extensions first (their tests skip where sphinx is not installed)
"$PYTHON" -m pytest -q -p no:cacheprovider tests/docs
rm -rf docs/_build/html docs/_build/doctrees
"$PYTHON" -m sphinx -W --keep-going -b html -d docs/_build/doctrees docs docs/_build/html "$@"
echo "docs built: docs/_build/html/index.html"
