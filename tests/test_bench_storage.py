"""The storage benchmark: its replicas write exactly the engine's rows.

The benchmark compares the engine with two replicas of its writes (through
SQLAlchemy Core and through the raw driver); the comparison means something
only if they write the same rows. Timings are never checked.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from workflow.storage import WorkflowStore
from workflow.storage.engine import BATCH_SIZE

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_storage.py"


def load_script() -> Any:
    spec = importlib.util.spec_from_file_location("bench_storage", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


BENCH = load_script()
COUNT = BATCH_SIZE + 3


def rows_of(url, run, size):
    with WorkflowStore(url) as store:
        store.create_all()
    _, uuid = run(url, COUNT, size)
    return BENCH.stored_rows(url, uuid)


@pytest.mark.parametrize("size", [0, BENCH.RECORD_SIZE])
def test_the_replicas_write_the_engines_rows_on_sqlite(sqlite_url, size):
    engine_rows = rows_of(sqlite_url, BENCH.run_engine, size)
    assert len(engine_rows["objects"]) == COUNT
    assert rows_of(sqlite_url, BENCH.run_core, size) == engine_rows
    assert rows_of(sqlite_url, BENCH.run_raw_sqlite, size) == engine_rows


@pytest.mark.postgresql
def test_the_replicas_write_the_engines_rows_on_postgresql(postgresql_url):
    engine_rows = rows_of(postgresql_url, BENCH.run_engine, 0)
    assert rows_of(postgresql_url, BENCH.run_core, 0) == engine_rows
    assert rows_of(postgresql_url, BENCH.run_raw_postgresql, 0) == engine_rows
    assert rows_of(postgresql_url, BENCH.run_raw_postgresql_pipelined, 0) == (
        engine_rows
    )


def test_the_quick_run_reports_every_part():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", "--no-postgresql"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert sorted(report) == ["check", "memory", "quick", "speed"]
    assert sorted(report["check"]) == ["large", "record", "tiny"]
    assert [run["objects"] for run in report["memory"]["runs"]] == [1_000, 4_000] * 2
    assert [run["lines"] for run in report["memory"]["cli"]] == [1_000, 10_000]
    assert [run["record_bytes"] for run in report["speed"]["sqlite"]] == [
        0,
        BENCH.RECORD_SIZE,
    ]
