"""Measure the SQL storage: its memory per object and its cost against the database.

Usage::

    python benchmarks/bench_storage.py            # full run (several minutes)
    python benchmarks/bench_storage.py --quick    # small sizes, for CI
    python benchmarks/bench_storage.py --json     # machine-readable output
    python benchmarks/bench_storage.py --postgresql-url postgresql+psycopg://...

Three parts:

``memory``
    A stored run (:func:`workflow.storage.start` over a generator, so the
    input itself is not counted) at 10^3, 10^4 and 10^5 objects, with small
    and 4.6 KB records: the peak of traced memory (:mod:`tracemalloc`)
    during the run and what stays allocated once ``start()`` has returned,
    *without* a ``gc.collect()``, per object. Then ``workflow run --data``
    reading 10^4 and 10^5 JSON Lines, as the child process's peak RSS.
``speed``
    20 tasks per object, each changing its data; a commit per object
    boundary; a SQLite file in WAL mode. The engine is timed against two
    replicas of exactly the writes it makes (same statements, same order,
    same commits, same reads of the objects by batch): one through
    SQLAlchemy Core, one through the raw driver (:mod:`sqlite3`,
    psycopg). The script checks that the three write identical rows. On
    PostgreSQL too when a server is given (``--postgresql-url``) or can be
    started from the installed server binaries.
``data check``
    :func:`workflow.storage.engine.to_json` (the check of the data handed
    to the storage, and its encoding) against ``json.dumps``, on a tiny
    value, a 4.6 KB record and a 113 KB one.

Missing a target never makes the script fail (shared machines are noisy);
it exits non-zero only when something crashes, for instance when a replica
and the engine disagree about the rows written.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import glob
import json
import os
import platform
import pwd
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any, Callable, cast

from sqlalchemy import Table, bindparam, create_engine, insert, select, update

from workflow.storage import WorkflowStore, registry, start
from workflow.storage.engine import BATCH_SIZE, to_json
from workflow.storage.models import ObjectRecord, WorkflowRecord, utcnow
from workflow.storage.registry import fingerprint

FULL = {
    "memory_counts": (1_000, 10_000, 100_000),
    "cli_lines": (10_000, 100_000),
    "speed_objects": 2_000,
    "speed_repeats": 5,
    "check_repeats": 2_000,
}
QUICK = {
    "memory_counts": (1_000, 4_000),
    "cli_lines": (1_000, 10_000),
    "speed_objects": 300,
    "speed_repeats": 2,
    "check_repeats": 200,
}
TASKS_PER_OBJECT = 20
RECORD_SIZE = 4_600
RETAINED_TARGET_BYTES = 2_048
# Peak memory is "independent of the object count" when the largest run's
# peak stays within this factor of the smallest one's.
PEAK_GROWTH_LIMIT = 1.5
SQLITE_CORE_TARGET = 1.1
SQLITE_RAW_TARGET = 2.0
SQLITE_CORE_TARGET_RECORD = 1.2
POSTGRESQL_RAW_TARGET = 1.3
CHECK_TARGET = 1.3
NAME = "benchmark-storage"
WF = cast(Table, WorkflowRecord.__table__)
OBJ = cast(Table, ObjectRecord.__table__)


def make_data_task(number: int) -> Callable[[Any, Any], None]:
    """A task bumping ``obj.data["n"]`` (saved by the storage engine)."""

    def task(obj: Any, eng: Any) -> None:
        obj.data["n"] += 1

    task.__name__ = task.__qualname__ = f"data_task_{number}"
    return task


TASKS = [make_data_task(number) for number in range(TASKS_PER_OBJECT)]
registry.register(NAME, TASKS)


def record(index: int, size: int) -> dict[str, Any]:
    """An object's data: a counter, plus ``size`` bytes of text when asked."""
    if not size:
        return {"n": 0}
    return {"n": 0, "id": index, "text": "x" * size}


def records(count: int, size: int) -> Iterator[dict[str, Any]]:
    return (record(index, size) for index in range(count))


# --------------------------------------------------------------------------
# Memory


def measure_memory(url: str, count: int, size: int) -> dict[str, Any]:
    """Peak and retained traced memory of one stored run of ``count`` objects."""
    with WorkflowStore(url) as store:
        start(NAME, records(10, size), store)  # caches and imports, not counted
        gc.collect()
        gc.disable()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            result = start(NAME, records(count, size), store)
            current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            gc.enable()
    if result.status.name != "COMPLETED":
        raise RuntimeError(f"memory: the run ended {result.status.name}")
    retained = max(0, current - before)
    return {
        "objects": count,
        "record_bytes": size,
        "peak_bytes": peak - before,
        "retained_bytes": retained,
        "retained_bytes_per_object": retained / count,
    }


CLI_FLOW = """
def bump(obj, eng):
    obj.data["n"] = obj.data.get("n", 0) + 1


flow = [bump]
"""

CLI_RSS = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if done.returncode != 0:
    sys.exit(done.stderr)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def measure_cli(lines: int, tmp: str) -> dict[str, Any]:
    """Peak RSS of ``workflow run --data`` over ``lines`` JSON Lines."""
    with open(os.path.join(tmp, "cli_flow.py"), "w") as flow:
        flow.write(CLI_FLOW)
    data = os.path.join(tmp, f"data-{lines}.jsonl")
    with open(data, "w") as out:
        for index in range(lines):
            out.write(json.dumps({"n": 0, "id": index}) + "\n")
    command = [
        sys.executable,
        "-c",
        CLI_RSS,
        sys.executable,
        "-m",
        "workflow",
        "run",
        "cli_flow.py:flow",
        "--data",
        data,
        "--db",
        "sqlite:///" + os.path.join(tmp, f"cli-{lines}.db"),
    ]
    done = subprocess.run(command, cwd=tmp, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"cli: {done.stderr.strip()}")
    return {"lines": lines, "peak_rss_kib": int(done.stdout.split()[-1])}


def bench_memory(config: dict[str, Any]) -> dict[str, Any]:
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in (0, RECORD_SIZE):
            for count in config["memory_counts"]:
                url = "sqlite:///" + os.path.join(tmp, f"memory-{size}-{count}.db")
                runs.append(measure_memory(url, count, size))
        cli = [measure_cli(lines, tmp) for lines in config["cli_lines"]]
    verdicts = {}
    for size in (0, RECORD_SIZE):
        series = [run for run in runs if run["record_bytes"] == size]
        growth = series[-1]["peak_bytes"] / series[0]["peak_bytes"]
        verdicts[str(size)] = {
            "peak_growth": growth,
            "peak_flat": growth <= PEAK_GROWTH_LIMIT,
            "retained_met": all(
                run["retained_bytes_per_object"] <= RETAINED_TARGET_BYTES
                for run in series
            ),
        }
    cli_growth = cli[-1]["peak_rss_kib"] / cli[0]["peak_rss_kib"]
    return {
        "runs": runs,
        "verdicts": verdicts,
        "cli": cli,
        "cli_rss_growth": cli_growth,
        "cli_flat": cli_growth <= PEAK_GROWTH_LIMIT,
    }


# --------------------------------------------------------------------------
# Speed: the engine and its two replicas


def run_engine(url: str, count: int, size: int) -> tuple[float, str]:
    """Time ``start()``; return the seconds and the workflow's uuid."""
    with WorkflowStore(url) as store:
        store.create_all()
        data = [record(index, size) for index in range(count)]
        began = time.perf_counter()
        result = start(NAME, data, store)
        elapsed = time.perf_counter() - began
    if result.status.name != "COMPLETED":
        raise RuntimeError(f"speed: the stored run ended {result.status.name}")
    return elapsed, result.uuid


def run_tasks(data: Any) -> None:
    """The engine's 20 tasks, called as the engine calls them."""
    holder = _Holder(data)
    for task in TASKS:
        task(holder, None)


class _Holder:
    __slots__ = ("data",)

    def __init__(self, data: Any) -> None:
        self.data = data


def new_uuid() -> str:
    import uuid

    return str(uuid.uuid4())


def run_core(url: str, count: int, size: int) -> tuple[float, str]:
    """The engine's writes, statement for statement, through SQLAlchemy Core."""
    engine = create_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        from sqlalchemy import event

        from workflow.storage.models import _set_sqlite_pragmas

        event.listen(engine, "connect", _set_sqlite_pragmas)
    update_workflow = update(WF).where(
        WF.c.uuid == bindparam("w_uuid"), WF.c.version == bindparam("w_version")
    )
    claim = update_workflow.where(WF.c.status == bindparam("w_status"))
    update_object = update(OBJ).where(OBJ.c.id == bindparam("o_id"))
    load = (
        select(OBJ)
        .where(
            OBJ.c.workflow_uuid == bindparam("uuid"),
            OBJ.c.position.between(bindparam("first"), bindparam("last")),
        )
        .order_by(OBJ.c.position)
    )
    uuid = new_uuid()
    print_ = fingerprint(TASKS)
    data = [record(index, size) for index in range(count)]
    last = [TASKS_PER_OBJECT - 1]
    began = time.perf_counter()
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            insert(WF),
            {
                "uuid": uuid,
                "name": NAME,
                "status": 0,
                "created": now,
                "modified": now,
                "extra_data": {},
                "token_pos": -1,
                "callback_pos": [0],
                "fingerprint": print_,
                "version": 0,
            },
        )
        for first in range(0, count, BATCH_SIZE):
            conn.execute(
                insert(OBJ),
                [
                    {
                        "workflow_uuid": uuid,
                        "position": position,
                        "data": data[position],
                        "extra_data": {},
                        "status": 0,
                        "callback_pos": [0],
                        "created": now,
                        "modified": now,
                    }
                    for position in range(first, min(count, first + BATCH_SIZE))
                ],
            )
    with engine.connect() as conn:
        conn.execute(
            claim,
            {
                "w_uuid": uuid,
                "w_version": 0,
                "w_status": 0,
                "status": 1,
                "version": 1,
                "fingerprint": print_,
                "modified": utcnow(),
            },
        )
        conn.commit()
        conn.execute(
            update_workflow,
            {"w_uuid": uuid, "w_version": 1, "status": 1, "modified": utcnow()},
        )
        conn.commit()
        previous = None
        for position in range(count):
            if position % BATCH_SIZE == 0:
                rows = conn.execute(
                    load,
                    {
                        "uuid": uuid,
                        "first": position,
                        "last": position + BATCH_SIZE - 1,
                    },
                ).all()
                batch = {row.position: (row.id, row.data) for row in rows}
            object_id, values = batch[position]
            conn.execute(
                update_workflow,
                {
                    "w_uuid": uuid,
                    "w_version": 1,
                    "modified": utcnow(),
                    "token_pos": position,
                    "callback_pos": [0],
                },
            )
            if previous is not None:
                conn.execute(update_object, previous)
            conn.execute(
                update_object,
                {
                    "o_id": object_id,
                    "status": 3,
                    "callback_pos": [0],
                    "modified": utcnow(),
                },
            )
            conn.commit()
            run_tasks(values)
            previous = {
                "o_id": object_id,
                "modified": utcnow(),
                "status": 1,
                "callback_pos": last,
                "data": values,
            }
        conn.execute(
            update_workflow,
            {"w_uuid": uuid, "w_version": 1, "modified": utcnow(), "status": 4},
        )
        if previous is not None:
            conn.execute(update_object, previous)
        conn.commit()
    elapsed = time.perf_counter() - began
    engine.dispose()
    return elapsed, uuid


def sqlite_path(url: str) -> str:
    return url[len("sqlite:///") :]


def run_raw_sqlite(url: str, count: int, size: int) -> tuple[float, str]:
    """The engine's writes through :mod:`sqlite3`, with the store's settings."""
    conn = sqlite3.connect(sqlite_path(url))
    for pragma in (
        "busy_timeout=30000",
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
    ):
        conn.execute(f"PRAGMA {pragma}")
    return _run_raw(conn, "?", count, size, lambda when: when.strftime(TIME_FORMAT))


def run_raw_postgresql(url: str, count: int, size: int) -> tuple[float, str]:
    """The engine's writes through psycopg, one statement per round trip."""
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        return _run_raw(conn, "%s", count, size, lambda when: when)


def run_raw_postgresql_pipelined(url: str, count: int, size: int) -> tuple[float, str]:
    """The same writes through psycopg, each object boundary in one round trip.

    The boundary's statements and its commit go out together in pipeline
    mode: the floor the issue sets for PostgreSQL.
    """
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        return _run_raw(conn, "%s", count, size, lambda when: when, pipelined=True)


TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def _run_raw(
    conn: Any,
    mark: str,
    count: int,
    size: int,
    when: Callable[[Any], Any],
    *,
    pipelined: bool = False,
) -> tuple[float, str]:
    dumps = json.dumps
    uuid = new_uuid()
    print_ = fingerprint(TASKS)
    data = [record(index, size) for index in range(count)]
    last = dumps([TASKS_PER_OBJECT - 1])

    def now() -> Any:
        return when(utcnow().replace(tzinfo=None) if mark == "?" else utcnow())

    began = time.perf_counter()
    cur = conn.cursor()
    stamp = now()
    cur.execute(
        "INSERT INTO workflow_workflow (uuid, name, status, created, modified,"
        " extra_data, token_pos, callback_pos, fingerprint, version) VALUES"
        f" ({', '.join([mark] * 10)})",
        (uuid, NAME, 0, stamp, stamp, "{}", -1, "[0]", print_, 0),
    )
    cur.executemany(
        "INSERT INTO workflow_object (workflow_uuid, position, data, extra_data,"
        f" status, callback_pos, created, modified) VALUES ({', '.join([mark] * 8)})",
        [
            (uuid, position, dumps(item), "{}", 0, "[0]", stamp, stamp)
            for position, item in enumerate(data)
        ],
    )
    conn.commit()
    cur.execute(
        f"UPDATE workflow_workflow SET status={mark}, modified={mark},"
        f" fingerprint={mark}, version={mark} WHERE uuid = {mark} AND version ="
        f" {mark} AND status = {mark}",
        (1, now(), print_, 1, uuid, 0, 0),
    )
    conn.commit()
    update_workflow = (
        f"UPDATE workflow_workflow SET modified={mark}, token_pos={mark},"
        f" callback_pos={mark} WHERE uuid = {mark} AND version = {mark}"
    )
    complete = (
        f"UPDATE workflow_object SET modified={mark}, status={mark},"
        f" callback_pos={mark}, data={mark} WHERE id = {mark}"
    )
    begin = (
        f"UPDATE workflow_object SET modified={mark}, status={mark},"
        f" callback_pos={mark} WHERE id = {mark}"
    )
    cur.execute(
        f"UPDATE workflow_workflow SET status={mark}, modified={mark} WHERE uuid ="
        f" {mark} AND version = {mark}",
        (1, now(), uuid, 1),
    )
    conn.commit()
    previous = None
    loads = json.loads
    for position in range(count):
        if position % BATCH_SIZE == 0:
            cur.execute(
                "SELECT id, workflow_uuid, position, data, extra_data, status,"
                " callback_pos, halt_message, halt_action, halt_payload,"
                " error_message, created, modified FROM workflow_object WHERE"
                f" workflow_uuid = {mark} AND position BETWEEN {mark} AND {mark}"
                " ORDER BY position",
                (uuid, position, position + BATCH_SIZE - 1),
            )
            batch = {
                row[2]: (row[0], loads(row[3]) if isinstance(row[3], str) else row[3])
                for row in cur.fetchall()
            }
        object_id, values = batch[position]
        with conn.pipeline() if pipelined else contextlib.nullcontext():
            cur.execute(update_workflow, (now(), position, "[0]", uuid, 1))
            if previous is not None:
                cur.execute(complete, previous)
            cur.execute(begin, (now(), 3, "[0]", object_id))
            conn.commit()
        run_tasks(values)
        previous = (now(), 1, last, dumps(values), object_id)
    cur.execute(
        f"UPDATE workflow_workflow SET modified={mark}, status={mark} WHERE uuid ="
        f" {mark} AND version = {mark}",
        (now(), 4, uuid, 1),
    )
    if previous is not None:
        cur.execute(complete, previous)
    conn.commit()
    return time.perf_counter() - began, uuid


def stored_rows(url: str, uuid: str) -> dict[str, Any]:
    """What a run wrote, less what differs by nature (uuid, ids, times)."""
    with WorkflowStore(url) as store, store.connect() as conn:
        workflow = conn.execute(
            select(
                WF.c.name,
                WF.c.status,
                WF.c.extra_data,
                WF.c.token_pos,
                WF.c.callback_pos,
                WF.c.fingerprint,
                WF.c.version,
            ).where(WF.c.uuid == uuid)
        ).one()
        objects = conn.execute(
            select(
                OBJ.c.position,
                OBJ.c.data,
                OBJ.c.extra_data,
                OBJ.c.status,
                OBJ.c.callback_pos,
                OBJ.c.halt_message,
                OBJ.c.halt_action,
                OBJ.c.halt_payload,
                OBJ.c.error_message,
            )
            .where(OBJ.c.workflow_uuid == uuid)
            .order_by(OBJ.c.position)
        ).all()
        return {"workflow": tuple(workflow), "objects": [tuple(row) for row in objects]}


SIDES = {"engine": run_engine, "core": run_core}


def compare_sides(
    url: str,
    raw: Callable[[str, int, int], tuple[float, str]],
    config: dict[str, Any],
    size: int,
    more: dict[str, Callable[[str, int, int], tuple[float, str]]] | None = None,
) -> dict[str, Any]:
    """Time the engine and the replicas, alternating; check their rows agree."""
    count = config["speed_objects"]
    sides = {"engine": run_engine, "core": run_core, "raw": raw, **(more or {})}
    best = dict.fromkeys(sides, float("inf"))
    rows = {}
    for repeat in range(config["speed_repeats"]):
        order = list(sides) if repeat % 2 == 0 else list(reversed(sides))
        for name in order:
            gc.collect()
            gc.disable()
            try:
                elapsed, uuid = sides[name](url, count, size)
            finally:
                gc.enable()
            best[name] = min(best[name], elapsed)
            if repeat == 0:
                rows[name] = stored_rows(url, uuid)
    if any(rows[name] != rows["engine"] for name in sides):
        raise RuntimeError(
            "speed: the replicas did not write the engine's rows:"
            f" {[rows[name]['objects'][:1] for name in rows]}"
        )
    per_object = {name: best[name] / count * 1e6 for name in sides}
    return {
        "objects": count,
        "record_bytes": size,
        "us_per_object": per_object,
        "core_ratio": per_object["engine"] / per_object["core"],
        "raw_ratio": per_object["engine"] / per_object["raw"],
        **{
            f"{name}_ratio": per_object["engine"] / per_object[name]
            for name in more or {}
        },
    }


def bench_speed(config: dict[str, Any], postgresql_url: str | None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = "sqlite:///" + os.path.join(tmp, "speed.db")
        with WorkflowStore(url) as store:
            store.create_all()
        small = compare_sides(url, run_raw_sqlite, config, 0)
        large = compare_sides(url, run_raw_sqlite, config, RECORD_SIZE)
    small["targets"] = {"core": SQLITE_CORE_TARGET, "raw": SQLITE_RAW_TARGET}
    small["met"] = (
        small["core_ratio"] <= SQLITE_CORE_TARGET
        and small["raw_ratio"] <= SQLITE_RAW_TARGET
    )
    large["targets"] = {"core": SQLITE_CORE_TARGET_RECORD}
    large["met"] = large["core_ratio"] <= SQLITE_CORE_TARGET_RECORD
    results["sqlite"] = [small, large]
    if postgresql_url is not None:
        with WorkflowStore(postgresql_url) as store:
            store.create_all()
        runs = [
            compare_sides(
                postgresql_url,
                run_raw_postgresql,
                config,
                size,
                {"raw_one_trip": run_raw_postgresql_pipelined},
            )
            for size in (0, RECORD_SIZE)
        ]
        for run in runs:
            run["targets"] = {"raw_one_trip": POSTGRESQL_RAW_TARGET}
            run["met"] = run["raw_one_trip_ratio"] <= POSTGRESQL_RAW_TARGET
        results["postgresql"] = runs
        results["postgresql_round_trips_per_boundary"] = round_trips(postgresql_url)
    return results


def round_trips(url: str) -> int:
    """The round trips the engine makes at one object boundary.

    Each statement is one; a commit is one unless the connection is in
    autocommit (the driver then sends nothing).
    """
    from sqlalchemy import event

    sent: list[str] = []

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        sent.append(sql)

    def commit(conn: Any) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            sent.append("COMMIT")

    with WorkflowStore(url) as store:
        event.listen(store.engine, "before_cursor_execute", statement)
        event.listen(store.engine, "commit", commit)
        start(NAME, records(3, 0), store)
    # A save begins with the workflow's update. Three objects: count the
    # save of the second object's start (carrying the first one's
    # completion), up to the third's.
    saves = [
        index
        for index, sql in enumerate(sent)
        if sql.startswith(("UPDATE workflow_workflow SET modified", "WITH w AS"))
    ]
    return saves[2] - saves[1]


# --------------------------------------------------------------------------
# The data check


def big_record(size: int) -> dict[str, Any]:
    """A record of about ``size`` bytes of JSON, with nesting and many fields."""
    # Each author takes about 75 bytes of JSON.
    authors = [
        {"name": f"Author {index}", "affiliation": "University of Somewhere"}
        for index in range(size // 75)
    ]
    return {
        "id": 12345,
        "title": "A title of some length for the record",
        "authors": authors,
        "keywords": [f"keyword-{index}" for index in range(20)],
        "score": 4.5,
        "open": True,
    }


def bench_check(config: dict[str, Any]) -> dict[str, Any]:
    values = {
        "tiny": {"n": 5},
        "record": big_record(RECORD_SIZE),
        "large": big_record(113_000),
    }
    repeats = config["check_repeats"]
    results = {}
    for name, value in values.items():
        best_check = best_dumps = float("inf")
        for _ in range(5):
            began = time.perf_counter()
            for _ in range(repeats):
                to_json(value, "data")
            best_check = min(best_check, time.perf_counter() - began)
            began = time.perf_counter()
            for _ in range(repeats):
                json.dumps(value)
            best_dumps = min(best_dumps, time.perf_counter() - began)
        results[name] = {
            "json_bytes": len(json.dumps(value)),
            "check_us": best_check / repeats * 1e6,
            "dumps_us": best_dumps / repeats * 1e6,
            "ratio": best_check / best_dumps,
            "met": best_check / best_dumps <= CHECK_TARGET,
        }
    return results


# --------------------------------------------------------------------------
# A PostgreSQL server when none is given


@contextlib.contextmanager
def started_postgresql() -> Iterator[str | None]:
    """Start a throw-away PostgreSQL server, as the test suite does, if possible."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    bindir = os.path.dirname(candidates[-1]) if candidates else None
    if bindir is None and shutil.which("initdb"):
        bindir = os.path.dirname(shutil.which("initdb") or "")
    if bindir is None:
        yield None
        return
    user = None
    if os.geteuid() == 0:
        with contextlib.suppress(KeyError):
            pwd.getpwnam("postgres")
            user = "postgres"
        if user is None:
            yield None
            return
    workdir = tempfile.mkdtemp(prefix="workflow-bench-pg-")
    if user is not None:
        account = pwd.getpwnam(user)
        os.chown(workdir, account.pw_uid, account.pw_gid)

    def run(*command: str) -> None:
        full = ["runuser", "-u", user, "--", *command] if user else list(command)
        subprocess.run(full, check=True, capture_output=True, cwd=workdir, timeout=60)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = os.path.join(workdir, "data")
    started = False
    try:
        run(os.path.join(bindir, "initdb"), "-D", data, "-U", "postgres",
            "--auth=trust", "--no-sync", "-E", "UTF8")  # fmt: skip
        # The durability settings of a real server: commits are what is measured.
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {workdir}"
        log = os.path.join(workdir, "log")
        run(os.path.join(bindir, "pg_ctl"), "-D", data, "-l", log, "-o", options,
            "-w", "start")  # fmt: skip
        started = True
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            pg_ctl = os.path.join(bindir, "pg_ctl")
            run(pg_ctl, "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------
# Report


def yes_no(flag: bool) -> str:
    return "yes" if flag else "NO"


def report_text(results: dict[str, Any]) -> str:
    lines = [
        f"bench_storage on {platform.python_implementation()}"
        f" {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs",
        "",
        "memory of a stored run (traced, no gc.collect()):",
        "  objects  record   peak KiB  retained B/object",
    ]
    memory = results["memory"]
    for run in memory["runs"]:
        lines.append(
            f"  {run['objects']:>7,}  {run['record_bytes']:>6}"
            f"  {run['peak_bytes'] / 1024:>9,.0f}"
            f"  {run['retained_bytes_per_object']:>17,.1f}"
        )
    for size, verdict in memory["verdicts"].items():
        lines.append(
            f"  records of {size} B: peak grows x{verdict['peak_growth']:.2f} over the"
            f" range (flat: {yes_no(verdict['peak_flat'])}); retained <="
            f" {RETAINED_TARGET_BYTES} B/object: {yes_no(verdict['retained_met'])}"
        )
    cli = ", ".join(
        f"{run['lines']:,} lines {run['peak_rss_kib'] / 1024:.0f} MiB"
        for run in memory["cli"]
    )
    lines.append(
        f"  workflow run --data, peak RSS: {cli}; flat: {yes_no(memory['cli_flat'])}"
    )
    lines += [
        "",
        "speed, us per object (20 tasks changing the data, commit per boundary):",
    ]
    lines.append(
        "  database    record    engine     core      raw  vs core  vs raw  met"
    )
    speed = results["speed"]
    for backend in ("sqlite", "postgresql"):
        for run in speed.get(backend, []):
            us = run["us_per_object"]
            lines.append(
                f"  {backend:<10}  {run['record_bytes']:>6}  {us['engine']:>8.1f}"
                f"  {us['core']:>7.1f}  {us['raw']:>7.1f}  {run['core_ratio']:>7.2f}"
                f"  {run['raw_ratio']:>6.2f}  {yes_no(run['met'])}"
            )
    for run in speed.get("postgresql", []):
        lines.append(
            f"  postgresql, record {run['record_bytes']} B: raw replica with one round"
            " trip per boundary"
            f" {run['us_per_object']['raw_one_trip']:.1f} us/object; engine"
            f" {run['raw_one_trip_ratio']:.2f}x that (target <="
            f" {POSTGRESQL_RAW_TARGET}: {yes_no(run['met'])})"
        )
    if "postgresql" in speed:
        lines.append(
            "  postgresql: statements and commits per object boundary:"
            f" {speed['postgresql_round_trips_per_boundary']} (target 1)"
        )
    else:
        lines.append("  postgresql: not available")
    lines.append("  (the replicas wrote the engine's rows, checked on each database)")
    lines += ["", "data check (to_json) against json.dumps:"]
    for name, run in results["check"].items():
        lines.append(
            f"  {name:<7} {run['json_bytes']:>7,} B  check {run['check_us']:>8.2f} us"
            f"  dumps {run['dumps_us']:>8.2f} us  ratio {run['ratio']:.2f}"
            f"  (<= {CHECK_TARGET}: {yes_no(run['met'])})"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--postgresql-url",
        help="measure on this PostgreSQL database too (default: start a"
        " throw-away server when the server binaries are installed)",
    )
    parser.add_argument(
        "--no-postgresql", action="store_true", help="measure on SQLite only"
    )
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    results: dict[str, Any] = {"quick": args.quick}
    results["check"] = bench_check(config)
    results["memory"] = bench_memory(config)
    if args.no_postgresql:
        results["speed"] = bench_speed(config, None)
    elif args.postgresql_url:
        results["speed"] = bench_speed(config, args.postgresql_url)
    else:
        with started_postgresql() as url:
            results["speed"] = bench_speed(config, url)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        sys.stdout.write(report_text(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
