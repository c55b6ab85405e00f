"""benchmarks/bench_web.py runs at 1/100 scale and reports every page.

Structure only, never speed: timings depend on the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_reports_every_page_as_json():
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_web.py"),
            "--quick",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=True,
    )
    report = json.loads(done.stdout)
    assert (report["workflows"], report["objects"]) == (1_001, 11_000)
    assert report["long_workflow_events"] == 2_002
    assert list(report["pages"]) == [
        "workflows page",
        "workflows, HALTED",
        "workflows, middle page",
        "workflows, last page",
        "workflows, HALTED, last page",
        "workflows, one name",
        "workflows, one name, last page",
        "workflows, uuid prefix",
        "waiting list",
        "waiting list, one action",
        "waiting list, middle page",
        "waiting list, last page",
        "long workflow page",
        "long workflow, last objects",
        "long workflow, deep history",
        "object page, newest events",
        "object page, oldest events",
        "workflows JSON",
        "waiting JSON",
        "long workflow JSON",
    ]
    for timing in report["pages"].values():
        assert set(timing) == {"median_ms", "p95_ms"}
        assert 0 < timing["median_ms"] <= timing["p95_ms"]
