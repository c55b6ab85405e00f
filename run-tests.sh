#!/usr/bin/env bash
# Install the test extras, lint, build the docs (warnings are errors) and run
# the test suite with coverage. Any arguments are passed on to pytest.
# Set WORKFLOW_SKIP_INSTALL=1 to use the packages already installed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

if [ -z "${PYTHON:-}" ]; then
    if command -v python >/dev/null 2>&1; then
        PYTHON=python
    else
        PYTHON=python3
    fi
fi

if [ "${WORKFLOW_SKIP_INSTALL:-0}" != "1" ]; then
    echo "== installing the package with all extras"
    "$PYTHON" -m pip install -q -e '.[all]'
fi

# Prefer the ruff installed in this Python environment; fall back to PATH.
if "$PYTHON" -m ruff --version >/dev/null 2>&1; then
    RUFF=("$PYTHON" -m ruff)
else
    RUFF=(ruff)
fi

lint_dirs=()
for d in workflow tests benchmarks examples; do
    if [ -d "$d" ]; then
        lint_dirs+=("$d")
    fi
done

if [ "${#lint_dirs[@]}" -gt 0 ]; then
    echo "== ruff check ${lint_dirs[*]}"
    "${RUFF[@]}" check "${lint_dirs[@]}"
    echo "== ruff format --check ${lint_dirs[*]}"
    "${RUFF[@]}" format --check "${lint_dirs[@]}"
fi

if [ -f docs/conf.py ]; then
    echo "== building the HTML docs"
    "$PYTHON" -m sphinx -W -n --keep-going -b html docs docs/_build/html
    echo "== running the doctests in the docs"
    "$PYTHON" -m sphinx -W -n -b doctest docs docs/_build/doctest
fi

echo "== running the test suite"
"$PYTHON" -m pytest --cov=workflow --cov-branch --cov-report=term-missing "$@"
