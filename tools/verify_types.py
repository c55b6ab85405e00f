"""Check how much of the public API type checkers see as fully typed.

Runs ``pyright --verifytypes workflow`` on a regular (not editable) install
of this checkout, since pyright cannot follow an editable install's import
hook, prints the names it counts as incompletely typed and the score, and
exits 1 below the minimum score.

Usage: ``python tools/verify_types.py [--min-score 0.95]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def completeness(site: Path) -> dict[str, Any]:
    """Return pyright's type-completeness report for ``workflow`` in ``site``."""
    if importlib.util.find_spec("pyright") is None:
        sys.exit("verify_types: pyright is not installed: pip install -e '.[tests]'")
    done = subprocess.run(
        [sys.executable, "-m", "pyright", "--verifytypes", "workflow"]
        + ["--ignoreexternal", "--outputjson", "--pythonpath", sys.executable],
        env=dict(os.environ, PYTHONPATH=str(site)),
        cwd=site,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report: dict[str, Any] = json.loads(done.stdout)["typeCompleteness"]
    except (json.JSONDecodeError, KeyError):
        sys.exit(f"verify_types: pyright gave no report:\n{done.stdout}{done.stderr}")
    if not report["modules"]:
        sys.exit(f"verify_types: pyright did not find the package:\n{done.stdout}")
    return report


def main() -> int:
    """Install, measure, print; return the exit status."""
    parser = argparse.ArgumentParser(description="Check the type completeness.")
    parser.add_argument("--min-score", type=float, default=0.95)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="workflow-types-") as folder:
        site = Path(folder)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps"]
            + ["--target", str(site), str(REPO_ROOT)],
            check=True,
        )
        report = completeness(site)
    for symbol in report["symbols"]:
        if symbol["isExported"] and not symbol["isTypeKnown"]:
            print(f"  not fully typed: {symbol['name']}")
    score = float(report["completenessScore"])
    print(f"type completeness of workflow: {score:.1%} (minimum {args.min_score:.0%})")
    return 0 if score >= args.min_score else 1


if __name__ == "__main__":
    sys.exit(main())
