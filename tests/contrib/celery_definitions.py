"""Workflow definitions the test workers run.

Tasks record their side effects where the test can see them: in the object's
data (saved with the workflow, so it shows what was committed) and in a file
under ``WORKFLOW_TEST_DIR`` (appended on every execution, committed or not).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import sqlalchemy

from workflow.storage import registry

RELEASE_FILE = "release"
BLOCKER_PID_FILE = "blocker.pid"
EXECUTIONS_FILE = "executions.log"


def worker_name() -> str:
    """The name the fixture gave this worker (``"local"`` outside workers)."""
    return os.environ.get("WORKFLOW_TEST_WORKER", "local")


def _record_execution(obj: Any, task: str) -> None:
    directory = os.environ.get("WORKFLOW_TEST_DIR")
    if directory:
        line = f"{task} {obj.data['i']} {worker_name()}\n"
        with open(Path(directory) / EXECUTIONS_FILE, "a", encoding="utf-8") as out:
            out.write(line)


def _first_time(marker: str) -> bool:
    """True the first time a worker gets here (a file under WORKFLOW_TEST_DIR)."""
    path = Path(os.environ["WORKFLOW_TEST_DIR"]) / marker
    if path.exists():
        return False
    path.write_text("x")
    return True


def halt_first_visit(obj: Any, eng: Any) -> None:
    """Halt the first time an object marked ``"halt"`` comes here."""
    if obj.data.get("halt") and not obj.extra_data.get("halted_once"):
        obj.extra_data["halted_once"] = True
        eng.halt("waiting for a resume")


def block_until_released(obj: Any, eng: Any) -> None:
    """For an object marked ``"block"``, wait until the release file exists.

    The process id of the waiting process goes to the blocker pid file.
    """
    _record_execution(obj, "block")
    if obj.data.get("block"):
        directory = Path(os.environ["WORKFLOW_TEST_DIR"])
        (directory / BLOCKER_PID_FILE).write_text(str(os.getpid()))
        release = directory / RELEASE_FILE
        while not release.exists():
            time.sleep(0.02)


def count(obj: Any, eng: Any) -> None:
    """Count this run in the object's data and name the worker that did it."""
    time.sleep(obj.data.get("pause", 0))
    obj.data["count"] += 1
    obj.data["workers"].append(worker_name())


def fail(obj: Any, eng: Any) -> None:
    """Fail on an object marked ``"fail"``, recording each execution."""
    _record_execution(obj, "fail")
    if obj.data.get("fail"):
        raise ValueError(f"object {obj.data['i']} is broken\nsecond line")


def drop_connection_once(obj: Any, eng: Any) -> None:
    """For an object marked ``"drop"``, once: the server drops the run's connection.

    That is what a PostgreSQL restart, a failover or a proxy timeout does to
    a long run: its next save fails with a connection error, a transient one.
    """
    if obj.data.get("drop") and _first_time("dropped-connection"):
        pid = eng._connection.connection.dbapi_connection.info.backend_pid
        with eng.db_obj.store.engine.connect() as other:
            other.execute(
                sqlalchemy.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}
            )
            other.commit()


def taken_over_once(obj: Any, eng: Any) -> None:
    """For an object marked ``"steal"``, once: another process claims the workflow.

    A claim moves the workflow's version on, as ``resume(force=True)`` does;
    the run in this process then stops at its next save.
    """
    if obj.data.get("steal") and _first_time("taken-over"):
        with eng.db_obj.store.engine.begin() as other:
            other.execute(
                sqlalchemy.text(
                    "UPDATE workflow_workflow SET version = version + 1"
                    " WHERE uuid = :uuid"
                ),
                {"uuid": eng.db_obj.uuid},
            )


registry.register("halt_once", [halt_first_visit, count])
registry.register("block_then_count", [halt_first_visit, block_until_released, count])
registry.register("fail_on_marked", [fail, count])
registry.register("halt_then_fail", [halt_first_visit, fail, count])
registry.register("drop_connection_once", [drop_connection_once, count])
registry.register("taken_over_once", [taken_over_once, count])
