"""Storage fault injection: the database fails at each save point in turn.

A clean run of :data:`DEFINITION` (start, then resume after each halt until
the workflow completes) is measured first: every SQL statement, or every
commit, the storage engine issues is one *point*. Then, for each point k, the
same run is repeated on an empty database with an ``OperationalError``
("disk I/O error") raised at point k, as a failing disk or a dropped
connection would. Each time, the failure must reach the caller as that very
error (never swallowed, never turned into a wrong result), and resuming the
workflow afterwards (``force=True`` when the failure left it RUNNING) must
finish it with exactly the data of the clean run: no task effect lost, none
applied twice. The same run is also killed (``os._exit``, no cleanup) at each
commit in a child process, and resumed by this one.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import delete, event
from sqlalchemy.exc import OperationalError

from tests.runs import reference_run
from tests.strategies import build
from workflow.engine_db import WorkflowStatus
from workflow.storage import (
    ObjectRecord,
    WorkflowRecord,
    WorkflowStore,
    list_objects,
    list_workflows,
    resume,
    start,
)

SPEC = [
    ("task",),
    ("for", 2, False, "ASC", [("task",), ("halt", 1)]),
    ("if_else", 0b0101, ("jump_token", 0, 1), ("task",)),
    ("block", [("halt", 1), ("task",), ("skip", 1)]),
    ("task",),
]
"""Loops, halts, a re-run object and a skipped object: many kinds of save."""

DEFINITION = build(SPEC).definition
"""The definition of :data:`SPEC`, loaded by the storage through its import path."""

NAME = f"{__name__}:DEFINITION"

DATA = [{"id": 0}, {"id": 1}, {"id": 2}]

KILLED = 77
"""Exit status of a child process killed by the injector."""

CHILD_TIMEOUT = 120
"""Seconds a child process may run."""

_REPOSITORY = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)

# Runs the workflow to completion in a child process that the injector kills
# at commit point ``argv[2]`` (-1: never); prints the number of points.
_CHILD = """
import sys
from tests.storage.test_fault_injection import FaultInjector, run_to_completion
from workflow.storage import WorkflowStore
store = WorkflowStore(sys.argv[1])
injector = FaultInjector(store, "commit", kill=True)
injector.fail_at = int(sys.argv[2])
run_to_completion(store, injector)
store.dispose()
print(injector.points)
"""

MAX_RUNS = 50
"""More start/resume calls than a run of :data:`DEFINITION` can need."""


class FaultInjector:
    """Counts the storage's save points on a store and fails the chosen one.

    :param store: the store whose SQLAlchemy engine is watched.
    :param kind: ``"statement"`` (each SQL statement) or ``"commit"``.

    :param kill: at the chosen point, end the process at once (as a crash
        or ``kill -9`` would: no rollback, no cleanup) instead of raising.
    """

    def __init__(self, store: WorkflowStore, kind: str, *, kill: bool = False) -> None:
        self.points = 0
        self.fail_at: int | None = None
        self.raised: list[BaseException] = []
        self._armed = False
        self._kill = kill
        hook = "before_cursor_execute" if kind == "statement" else "commit"
        event.listen(store.engine, hook, self._at_point)

    def _at_point(self, *args: Any) -> None:
        if not self._armed:
            return
        point = self.points
        self.points += 1
        if point == self.fail_at:
            if self._kill:
                os._exit(KILLED)
            fault = OperationalError(
                f"injected fault at save point {point}",
                None,
                sqlite3.OperationalError("disk I/O error"),
            )
            self.raised.append(fault)
            raise fault

    @contextmanager
    def armed(self) -> Iterator[None]:
        """Count (and fail) points only inside this block: the storage's own calls."""
        self._armed = True
        try:
            yield
        finally:
            self._armed = False


def run_to_completion(store: WorkflowStore, injector: FaultInjector) -> list[Any]:
    """Start the workflow, then resume it until it completes.

    A call that fails is followed by a resume, with ``force=True`` when the
    failure left the workflow RUNNING (its process is gone), or by a new
    start when nothing was stored. Returns what each failed call raised.
    """
    failures = []
    for _ in range(MAX_RUNS):
        workflows = list_workflows(store)
        if workflows and workflows[0].status is WorkflowStatus.COMPLETED:
            return failures
        try:
            with injector.armed():
                if not workflows:
                    result = start(NAME, DATA, store)
                else:
                    info = workflows[0]
                    running = info.status is WorkflowStatus.RUNNING
                    result = resume(info.uuid, store, force=running)
        except OperationalError as exc:
            failures.append(exc)
            continue
        assert result.status in (WorkflowStatus.HALTED, WorkflowStatus.COMPLETED), (
            result
        )
        if result.status is WorkflowStatus.HALTED:
            assert result.halted_message.startswith("halt"), result
    pytest.fail(f"the workflow did not complete in {MAX_RUNS} calls")


def final_data(store: WorkflowStore) -> tuple[Any, ...]:
    """The stored workflow's status, extra_data and objects, to compare runs."""
    (info,) = list_workflows(store)
    with store.session() as session:
        extra_data = session.get(WorkflowRecord, info.uuid).extra_data
    objects = [
        (o.position, o.status.name, o.data, o.callback_pos)
        for o in list_objects(info.uuid, store)
    ]
    return info.status.name, extra_data, objects


def empty(store: WorkflowStore) -> None:
    """Delete every stored workflow and object."""
    with store.engine.begin() as connection:
        connection.execute(delete(ObjectRecord.__table__))
        connection.execute(delete(WorkflowRecord.__table__))


@pytest.mark.parametrize("kind", ["statement", "commit"])
def test_a_fault_at_any_save_point_reaches_the_caller_and_resume_recovers(store, kind):
    injector = FaultInjector(store, kind)
    assert run_to_completion(store, injector) == []
    expected = final_data(store)
    points = injector.points
    # Two halts, three objects, loop state in extra_data: a run with far
    # fewer points would not be exercising the saves this test is about. (On
    # PostgreSQL a save after the claim is one statement in autocommit, with
    # no commit: the statements are its save points.)
    postgresql = store.engine.dialect.name == "postgresql"
    assert points >= (5 if postgresql and kind == "commit" else 10), points

    for fail_at in range(points):
        empty(store)
        injector.points, injector.fail_at, injector.raised = 0, fail_at, []
        failures = run_to_completion(store, injector)
        assert len(injector.raised) == 1, f"fault {fail_at} was not reached"
        assert failures == injector.raised, (
            f"fault {fail_at}: the caller got {failures!r}"
        )
        assert final_data(store) == expected, f"after the fault at point {fail_at}"


def test_the_clean_run_matches_the_engine_run_without_storage(store):
    injector = FaultInjector(store, "commit")
    run_to_completion(store, injector)
    status, extra_data, objects = final_data(store)
    expected = reference_run(SPEC, DATA)
    assert (status, extra_data, [o[2] for o in objects]) == (
        "COMPLETED",
        expected.extra_data,
        expected.objects,
    )


def create_schema(url: str) -> None:
    """Create the storage tables at ``url`` (before a child process uses them)."""
    with WorkflowStore(url) as store:
        store.create_all()


def run_child(url: str, kill_at: int) -> subprocess.CompletedProcess[str]:
    """Run :data:`_CHILD` (the workflow, killed at commit ``kill_at``)."""
    return subprocess.run(
        [sys.executable, "-c", _CHILD, url, str(kill_at)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        cwd=_REPOSITORY,
        env={**os.environ, "PYTHONPATH": _REPOSITORY},
    )


def test_a_process_killed_at_any_commit_leaves_a_workflow_resume_finishes(
    tmp_path,
):
    clean_url = f"sqlite:///{tmp_path / 'clean.db'}"
    create_schema(clean_url)
    clean = run_child(clean_url, -1)
    assert clean.returncode == 0, clean.stderr
    points = int(clean.stdout)
    with WorkflowStore(clean_url) as clean_store:
        expected = final_data(clean_store)

    for kill_at in range(points):
        url = f"sqlite:///{tmp_path / f'killed-{kill_at}.db'}"
        create_schema(url)
        child = run_child(url, kill_at)
        assert child.returncode == KILLED, (kill_at, child.returncode, child.stderr)
        store = WorkflowStore(url)
        try:
            injector = FaultInjector(store, "commit")
            assert run_to_completion(store, injector) == []
            assert final_data(store) == expected, f"after a kill at commit {kill_at}"
        finally:
            store.dispose()
