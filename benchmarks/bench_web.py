"""Server time of the holding pen's lists over a large store.

Builds a store of 100,000 workflows and 1,000,000 objects (``--quick``:
1,000 and 10,000), then times the workflows page and the waiting list as
the application itself spends it: from the moment the ASGI application gets
the request to the last byte of its answer, without any network or client
time. Reports the median and the 95th percentile of each page, in
milliseconds. The targets of issue 19 (100 ms) are printed next to them but
never fail the script: timings on shared machines are noisy.

Run it from the repository root, with the ``web`` extra installed::

    python benchmarks/bench_web.py --quick
    python benchmarks/bench_web.py                 # full size, a few minutes
    python benchmarks/bench_web.py --db postgresql+psycopg://user@host/db
    python benchmarks/bench_web.py --json
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import statistics
import sys
import tempfile
import time
import uuid as uuid_module
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from workflow.engine_db import ObjectStatus, WorkflowStatus
from workflow.storage import ObjectRecord, WorkflowRecord, WorkflowStore
from workflow.web.app import create_app

with warnings.catch_warnings():
    # Starlette asks for httpx2 where only httpx is packaged.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

FULL = (100_000, 10)
QUICK = (1_000, 10)
TARGET_MS = 100.0
REPEATS = 15
ACTIONS = ("approval", "review", "fix-data")
BATCH = 20_000
# Indexes the schema does not have yet, which the lists' orders would use
# (--with-indexes creates them in the benchmark's own database only).
SUGGESTED_INDEXES = (
    "CREATE INDEX ix_bench_workflow_created ON workflow_workflow (created, uuid)",
    "CREATE INDEX ix_bench_object_waiting"
    " ON workflow_object (status, halt_action, modified, id)",
)


def build(store: WorkflowStore, workflows: int, per_workflow: int, seed: int) -> int:
    """Fill ``store`` with workflows: 60% COMPLETED, 20% HALTED, 10% ERROR, 10% NEW.

    A HALTED (ERROR) workflow has one HALTED (ERROR) object at a random
    position, its earlier objects COMPLETED and its later ones INITIAL.

    :returns: the number of HALTED objects.
    """
    rng = random.Random(seed)
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    halted = 0
    wf_rows: list[dict[str, Any]] = []
    obj_rows: list[dict[str, Any]] = []
    with store.engine.begin() as connection:
        for number in range(workflows):
            draw = rng.random()
            if draw < 0.6:
                status = WorkflowStatus.COMPLETED
            elif draw < 0.8:
                status = WorkflowStatus.HALTED
            elif draw < 0.9:
                status = WorkflowStatus.ERROR
            else:
                status = WorkflowStatus.NEW
            when = start + datetime.timedelta(seconds=number)
            uuid = str(uuid_module.UUID(int=rng.getrandbits(128), version=4))
            stop = rng.randrange(per_workflow)
            wf_rows.append(
                {
                    "uuid": uuid,
                    "name": f"definition-{number % 20}",
                    "status": status.value,
                    "created": when,
                    "modified": when,
                    "extra_data": {},
                    "token_pos": stop if status is not WorkflowStatus.NEW else -1,
                    "callback_pos": [0],
                    "fingerprint": "",
                    "version": 1,
                }
            )
            for position in range(per_workflow):
                values: dict[str, Any] = {
                    "workflow_uuid": uuid,
                    "position": position,
                    "data": {"record": number, "position": position, "title": "x" * 40},
                    "extra_data": {},
                    "status": ObjectStatus.INITIAL.value,
                    "callback_pos": [0],
                    "halt_message": None,
                    "halt_action": None,
                    "halt_payload": None,
                    "error_message": None,
                    "created": when,
                    "modified": when,
                }
                if status is WorkflowStatus.COMPLETED or (
                    status in (WorkflowStatus.HALTED, WorkflowStatus.ERROR)
                    and position < stop
                ):
                    values["status"] = ObjectStatus.COMPLETED.value
                elif status is WorkflowStatus.HALTED and position == stop:
                    values["status"] = ObjectStatus.HALTED.value
                    values["halt_action"] = rng.choice(ACTIONS)
                    values["halt_message"] = f"Check record {number}"
                    values["halt_payload"] = {"record": number}
                    halted += 1
                elif status is WorkflowStatus.ERROR and position == stop:
                    values["status"] = ObjectStatus.ERROR.value
                    values["error_message"] = "Traceback ...\nValueError: bad"
                obj_rows.append(values)
            if len(obj_rows) >= BATCH:
                connection.execute(insert(WorkflowRecord.__table__), wf_rows)
                connection.execute(insert(ObjectRecord.__table__), obj_rows)
                wf_rows, obj_rows = [], []
        if wf_rows:
            connection.execute(insert(WorkflowRecord.__table__), wf_rows)
            connection.execute(insert(ObjectRecord.__table__), obj_rows)
    return halted


class ServerClock:
    """Wraps an ASGI app and records how long it took to answer each request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.times: list[float] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        await self.app(scope, receive, send)
        self.times.append(time.perf_counter() - started)


def measure(client: TestClient, clock: ServerClock, path: str) -> dict[str, float]:
    """Time ``path`` REPEATS times after one warm-up request."""
    response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code}")
    clock.times.clear()
    for _ in range(REPEATS):
        client.get(path)
    times = sorted(t * 1000 for t in clock.times)
    return {
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 2),
    }


def run(
    url: str | None, quick: bool, seed: int, with_indexes: bool = False
) -> dict[str, Any]:
    """Build the store, then time each page; return the results."""
    workflows, per_workflow = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="bench-web-") as folder:
        store = WorkflowStore(url or f"sqlite:///{Path(folder) / 'bench.db'}")
        try:
            store.create_all()
            built = time.perf_counter()
            halted = build(store, workflows, per_workflow, seed)
            build_s = time.perf_counter() - built
            with store.engine.begin() as connection:
                if with_indexes:
                    for statement in SUGGESTED_INDEXES:
                        connection.exec_driver_sql(statement)
                connection.exec_driver_sql("ANALYZE")
            clock = ServerClock(create_app(store, get_user=lambda request: "bench"))
            client = TestClient(clock)
            some_uuid = client.get("/api/workflows?per_page=1").json()["workflows"][0][
                "uuid"
            ]
            # Pages half way through the lists: OFFSET skips that many rows.
            deep = max(1, workflows // 50 // 2)
            deep_waiting = max(1, halted // 50 // 2)
            pages = {
                "workflows page": "/",
                "workflows, HALTED": "/?status=HALTED",
                f"workflows, page {deep}": f"/?page={deep}",
                "workflows, one name": "/?name=definition-3",
                "workflows, uuid prefix": f"/?q={some_uuid[:6]}",
                "waiting list": "/waiting",
                "waiting list, one action": "/waiting?action=review",
                f"waiting list, page {deep_waiting}": f"/waiting?page={deep_waiting}",
                "workflows JSON": "/api/workflows",
                "waiting JSON": "/api/waiting",
            }
            results = {
                name: measure(client, clock, path) for name, path in pages.items()
            }
        finally:
            store.dispose()
    return {
        "database": store.url.get_backend_name(),
        "workflows": workflows,
        "objects": workflows * per_workflow,
        "halted_objects": halted,
        "build_seconds": round(build_s, 1),
        "suggested_indexes": with_indexes,
        "repeats": REPEATS,
        "target_ms": TARGET_MS,
        "pages": results,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="1/100 of the size")
    parser.add_argument(
        "--db", metavar="URL", help="an empty database (default: SQLite)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument(
        "--with-indexes",
        action="store_true",
        help="add the indexes the schema lacks (in the benchmark's database only)",
    )
    args = parser.parse_args(argv)
    report = run(args.db, args.quick, args.seed, args.with_indexes)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"{report['database']}: {report['workflows']:,} workflows,"
        f" {report['objects']:,} objects ({report['halted_objects']:,} halted),"
        f" built in {report['build_seconds']} s"
        + (", with the suggested indexes" if args.with_indexes else "")
    )
    print(f"server time over {REPEATS} requests (target {TARGET_MS:.0f} ms):")
    width = max(map(len, report["pages"]))
    for name, timing in report["pages"].items():
        mark = "" if timing["median_ms"] <= TARGET_MS else "  over target"
        print(
            f"  {name:<{width}}  median {timing['median_ms']:8.2f} ms"
            f"   p95 {timing['p95_ms']:8.2f} ms{mark}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
