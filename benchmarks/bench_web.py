"""Server time of the holding pen's pages over a large store.

Builds a store of 100,000 workflows and 1,000,000 objects (``--quick``:
1,000 and 10,000), plus one long workflow of 100,000 objects whose run
history has 200,000 events (``--quick``: 1,000 and 2,000). Then times the
workflows page and the waiting list (first, middle and last pages, with
filters) and the long workflow's page and object pages with their history
(newest and deep pages), as the application itself spends it: from the
moment the ASGI application gets the request to the last byte of its
answer, without any network or client time. Reports the median and the
95th percentile of each page, in milliseconds. The targets of issue 19
(100 ms) are printed next to them but never fail the script: timings on
shared machines are noisy.

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

from sqlalchemy import insert, select

from workflow.engine_db import ObjectStatus, WorkflowStatus
from workflow.storage import ObjectRecord, WorkflowRecord, WorkflowStore
from workflow.storage.models import HistoryRecord
from workflow.web.app import create_app

with warnings.catch_warnings():
    # Starlette asks for httpx2 where only httpx is packaged.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

FULL = (100_000, 10, 100_000)
QUICK = (1_000, 10, 1_000)
TARGET_MS = 100.0
REPEATS = 15
ACTIONS = ("approval", "review", "fix-data")
BATCH = 20_000
LONG_UUID = "ffffffff-0000-4000-8000-000000000000"


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


def build_long(store: WorkflowStore, objects: int) -> None:
    """Add one COMPLETED workflow of ``objects`` objects, created last, whose
    history has a start, an object_started and an object_finished event per
    object, and a completion: ``2 * objects + 2`` events."""
    when = datetime.datetime(2027, 1, 1, tzinfo=datetime.timezone.utc)
    with store.engine.begin() as connection:
        connection.execute(
            insert(WorkflowRecord.__table__),
            {
                "uuid": LONG_UUID,
                "name": "long",
                "status": WorkflowStatus.COMPLETED.value,
                "created": when,
                "modified": when,
                "extra_data": {},
                "token_pos": objects - 1,
                "callback_pos": [0],
                "fingerprint": "",
                "version": 1,
            },
        )
        events: list[dict[str, Any]] = [
            {"workflow_uuid": LONG_UUID, "time": when, "event": "started"}
        ]
        for start in range(0, objects, BATCH):
            rows = []
            for position in range(start, min(objects, start + BATCH)):
                rows.append(
                    {
                        "workflow_uuid": LONG_UUID,
                        "position": position,
                        "data": {"position": position, "title": "x" * 40},
                        "extra_data": {},
                        "status": ObjectStatus.COMPLETED.value,
                        "callback_pos": [1],
                        "created": when,
                        "modified": when,
                    }
                )
                events.append(
                    {
                        "workflow_uuid": LONG_UUID,
                        "time": when,
                        "event": "object_started",
                        "position": position,
                    }
                )
                events.append(
                    {
                        "workflow_uuid": LONG_UUID,
                        "time": when,
                        "event": "object_finished",
                        "position": position,
                        "details": {"status": "COMPLETED"},
                    }
                )
            connection.execute(insert(ObjectRecord.__table__), rows)
            connection.execute(insert(HistoryRecord.__table__), events)
            events = []
        connection.execute(
            insert(HistoryRecord.__table__),
            {"workflow_uuid": LONG_UUID, "time": when, "event": "completed"},
        )


def _object_ids(store: WorkflowStore, positions: list[int]) -> list[int]:
    with store.engine.connect() as connection:
        found = dict(
            connection.execute(
                select(ObjectRecord.position, ObjectRecord.id).where(
                    ObjectRecord.workflow_uuid == LONG_UUID,
                    ObjectRecord.position.in_(positions),
                )
            ).all()
        )
    return [int(found[position]) for position in positions]


def _middle_event(store: WorkflowStore) -> int:
    with store.engine.connect() as connection:
        ids = connection.execute(
            select(HistoryRecord.id)
            .where(HistoryRecord.workflow_uuid == LONG_UUID)
            .order_by(HistoryRecord.id)
        ).scalars()
        listed = list(ids)
    return int(listed[len(listed) // 2])


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


def run(url: str | None, quick: bool, seed: int) -> dict[str, Any]:
    """Build the store, then time each page; return the results."""
    workflows, per_workflow, long_objects = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="bench-web-") as folder:
        store = WorkflowStore(url or f"sqlite:///{Path(folder) / 'bench.db'}")
        try:
            store.create_all()
            built = time.perf_counter()
            halted = build(store, workflows, per_workflow, seed)
            build_long(store, long_objects)
            build_s = time.perf_counter() - built
            with store.engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")
            clock = ServerClock(create_app(store, get_user=lambda request: "bench"))
            client = TestClient(clock)
            some_uuid = client.get("/api/workflows?per_page=2").json()["workflows"][1][
                "uuid"
            ]
            size = 50
            middle = max(1, (workflows + 1) // size // 2)
            last = (workflows + 1 + size - 1) // size
            halted_last = max(1, (workflows // 5 + size - 1) // size)
            waiting_middle = max(1, halted // size // 2)
            waiting_last = max(1, (halted + size - 1) // size)
            first_object, last_object = _object_ids(store, [0, long_objects - 1])
            deep_event = _middle_event(store)
            long_page = f"/workflows/{LONG_UUID}"
            pages = {
                "workflows page": "/",
                "workflows, HALTED": "/?status=HALTED",
                "workflows, middle page": f"/?page={middle}",
                "workflows, last page": f"/?page={last}",
                "workflows, HALTED, last page": f"/?status=HALTED&page={halted_last}",
                "workflows, one name": "/?name=definition-3",
                "workflows, one name, last page": (
                    f"/?name=definition-3&page={max(1, workflows // 20 // size)}"
                ),
                "workflows, uuid prefix": f"/?q={some_uuid[:6]}",
                "waiting list": "/waiting",
                "waiting list, one action": "/waiting?action=review",
                "waiting list, middle page": f"/waiting?page={waiting_middle}",
                "waiting list, last page": f"/waiting?page={waiting_last}",
                "long workflow page": long_page,
                "long workflow, last objects": (
                    f"{long_page}?page={(long_objects + size - 1) // size}"
                ),
                "long workflow, deep history": (
                    f"{long_page}?history_before={deep_event}"
                ),
                "object page, newest events": f"/objects/{last_object}",
                "object page, oldest events": f"/objects/{first_object}",
                "workflows JSON": "/api/workflows",
                "waiting JSON": "/api/waiting",
                "long workflow JSON": f"/api{long_page}",
            }
            results = {
                name: measure(client, clock, path) for name, path in pages.items()
            }
        finally:
            store.dispose()
    return {
        "database": store.url.get_backend_name(),
        "workflows": workflows + 1,
        "objects": workflows * per_workflow + long_objects,
        "halted_objects": halted,
        "long_workflow_events": 2 * long_objects + 2,
        "build_seconds": round(build_s, 1),
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
    args = parser.parse_args(argv)
    report = run(args.db, args.quick, args.seed)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"{report['database']}: {report['workflows']:,} workflows,"
        f" {report['objects']:,} objects ({report['halted_objects']:,} halted),"
        f" {report['long_workflow_events']:,} events in the long workflow's"
        f" history, built in {report['build_seconds']} s"
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
