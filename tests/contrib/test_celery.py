"""Tests of :mod:`workflow.contrib.celery`.

The first half runs the tasks in this process (``Task.apply``) on real
SQLite files and a real PostgreSQL. The second half sends them through a
real redis to real ``celery worker`` processes started by the fixtures in
``conftest.py``.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import logging
import os
import re
import signal
import sqlite3
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kombu.exceptions
import psycopg
import psycopg.errors
import pytest
import redis
import sqlalchemy
import sqlalchemy.exc
from celery import Celery
from sqlalchemy import event

from tests.contrib import celery_definitions
from tests.contrib.celery_app import QUEUE, VISIBILITY_TIMEOUT
from tests.contrib.conftest import (
    REPO_ROOT,
    WorkerPool,
    empty_redis_db,
    wait_until,
)
from workflow.contrib.celery import (
    FAILED,
    WorkflowTasks,
    is_transient_error,
    recommended_settings,
    register_tasks,
    retry_delay,
    workflow_uuid_for,
)
from workflow.engine_db import ObjectStatus, WorkflowStatus
from workflow.errors import WorkflowError
from workflow.storage import (
    WorkflowRecord,
    WorkflowStore,
    get_workflow,
    list_objects,
    list_workflows,
    resume,
    start,
    workflow_history,
)
from workflow.storage.models import SCHEMA_REVISION
from workflow.storage.schema import VERSION_TABLE

# Every test gets a timeout; those that start workers set their own.
pytestmark = pytest.mark.timeout(30)

RESULT_TIMEOUT = 30
# The class of the storage's refusal of a start given a uuid in use.
EXISTS_ERROR = "WorkflowExistsError"
UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"


def item(i: int, **flags: Any) -> dict[str, Any]:
    """The data of one test object: its index, a run counter, flags."""
    return {"i": i, "count": 0, "workers": [], **flags}


def make_store(url: str) -> WorkflowStore:
    store = WorkflowStore(url)
    store.create_all()
    return store


def set_running(store: WorkflowStore, uuid: str) -> None:
    """Leave ``uuid`` as a process that claimed it and then died leaves it.

    Its last heartbeat is a day old: its lease expired long ago.
    """
    with store.engine.begin() as conn:
        conn.execute(
            sqlalchemy.update(WorkflowRecord)
            .where(WorkflowRecord.uuid == uuid)
            .values(
                status=WorkflowStatus.RUNNING.value,
                version=WorkflowRecord.version + 1,
                heartbeat=datetime.datetime.now(datetime.timezone.utc)
                - datetime.timedelta(days=1),
            )
        )


def executions(directory: Path) -> list[str]:
    """The task executions recorded by the test definitions, in order."""
    path = directory / celery_definitions.EXECUTIONS_FILE
    return path.read_text().splitlines() if path.exists() else []


def client_app(broker_url: str) -> Celery:
    """A Celery app for this process: it sends tasks and reads results."""
    app = Celery("workflow_celery_client", set_as_current=False)
    app.conf.update(recommended_settings())
    app.conf.update(broker_url=broker_url, result_backend=broker_url)
    return app


def client_tasks(app: Celery) -> WorkflowTasks:
    # The client never opens the store: the workers do.
    return register_tasks(
        app,
        "sqlite:///never-opened.db",
        queue=QUEUE,
        routing_key=QUEUE,
        prefix="wftest",
    )


# ---------------------------------------------------------------------------
# Registration


def test_recommended_settings() -> None:
    assert recommended_settings() == {
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_deduplicate_successful_tasks": True,
    }


def test_register_tasks_names_and_options() -> None:
    app = Celery("registration", set_as_current=False)
    tasks = register_tasks(app, "sqlite:///x.db", prefix="flows", max_retries=3)
    described = [
        (
            task.name,
            task.serializer,
            task.acks_late,
            task.reject_on_worker_lost,
            task.max_retries,
        )
        for task in (tasks.start, tasks.resume, tasks.restart)
    ]
    assert described == [
        (f"flows.{kind}", "json", True, True, 3)
        for kind in ("start", "resume", "restart")
    ]
    assert tasks.store_url == "sqlite:///x.db"
    assert sorted(name for name in app.tasks if name.startswith("flows.")) == [
        "flows.restart",
        "flows.resume",
        "flows.start",
    ]


def queued_messages(broker_url: str, queue: str) -> list[dict[str, Any]]:
    """The messages waiting in ``queue`` of the redis broker, oldest first."""
    client = redis.Redis.from_url(broker_url)
    try:
        return [json.loads(raw) for raw in reversed(client.lrange(queue, 0, -1))]
    finally:
        client.close()


@pytest.mark.celery
@pytest.mark.parametrize("kind", ["start", "resume", "restart"])
def test_registered_queue_and_routing_key_route_the_messages(
    broker_url: str, kind: str
) -> None:
    app = client_app(broker_url)
    try:
        tasks = register_tasks(app, "sqlite:///x.db", queue="wf", routing_key="wf")
        getattr(tasks, kind).delay(*{"start": ["a", []]}.get(kind, [UNKNOWN_UUID]))
        [message] = queued_messages(broker_url, "wf")
        assert (
            message["headers"]["task"],
            message["properties"]["delivery_info"]["routing_key"],
            message["content-type"],
        ) == (f"workflow.{kind}", "wf", "application/json")
        assert queued_messages(broker_url, "celery") == []
    finally:
        app.close()


@pytest.mark.celery
def test_a_call_can_name_its_own_queue(broker_url: str) -> None:
    app = client_app(broker_url)
    try:
        tasks = register_tasks(app, "sqlite:///x.db", queue="wf")
        tasks.resume.apply_async([UNKNOWN_UUID], queue="urgent")
        assert (
            len(queued_messages(broker_url, "urgent")),
            len(queued_messages(broker_url, "wf")),
        ) == (1, 0)
    finally:
        app.close()


@pytest.mark.celery
def test_register_tasks_defaults(broker_url: str) -> None:
    app = client_app(broker_url)
    try:
        tasks = register_tasks(app, "sqlite:///x.db")
        tasks.resume.delay(UNKNOWN_UUID)
        [message] = queued_messages(broker_url, "celery")
        assert (message["headers"]["task"], tasks.resume.max_retries) == (
            "workflow.resume",
            5,
        )
    finally:
        app.close()


@pytest.mark.parametrize(
    ("app", "kwargs", "error", "message"),
    [
        ("not an app", {}, TypeError, "app must be a celery.Celery application"),
        (None, {"store_url": ""}, TypeError, "store_url must be a non-empty string"),
        (None, {"store_url": 3}, TypeError, "store_url must be a non-empty string"),
        (None, {"prefix": ""}, TypeError, "prefix must be a non-empty string"),
        (None, {"queue": ""}, TypeError, "queue must be a non-empty string"),
        (None, {"routing_key": 5}, TypeError, "routing_key must be a non-empty string"),
        (None, {"max_retries": "3"}, TypeError, "max_retries must be an int"),
        (None, {"max_retries": True}, TypeError, "max_retries must be an int"),
        (None, {"max_retries": -1}, ValueError, "max_retries must be 0 or more"),
        (None, {"retry_backoff": "1"}, TypeError, "retry_backoff must be a number"),
        (None, {"retry_backoff": 0}, ValueError, "retry_backoff must be positive"),
        (None, {"retry_backoff_max": -2.0}, ValueError, "retry_backoff_max must be"),
        (
            None,
            {"retry_backoff": float("nan")},
            ValueError,
            "retry_backoff must be positive, got nan",
        ),
        (
            None,
            {"retry_backoff_max": float("nan")},
            ValueError,
            "retry_backoff_max must be positive, got nan",
        ),
        (None, {"store_options": [1]}, TypeError, "store_options must be a dict"),
    ],
)
def test_register_tasks_refuses_bad_arguments(
    app: Any, kwargs: dict[str, Any], error: type, message: str
) -> None:
    if app is None:
        app = Celery("registration", set_as_current=False)
    arguments = {"store_url": "sqlite:///x.db", **kwargs}
    with pytest.raises(error, match=re.escape(message)):
        register_tasks(app, arguments.pop("store_url"), **arguments)


def test_register_tasks_warns_when_the_app_accepts_pickle() -> None:
    app = Celery("pickling", set_as_current=False)
    app.conf.accept_content = ["json", "pickle"]
    with pytest.warns(UserWarning, match=r"accepts pickle messages"):
        register_tasks(app, "sqlite:///x.db")


def test_register_tasks_is_silent_for_a_json_only_app() -> None:
    app = Celery("json", set_as_current=False)
    app.conf.accept_content = ["json"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        register_tasks(app, "sqlite:///x.db")


# ---------------------------------------------------------------------------
# Retry policy


def _chained(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


def _wrapped(orig: BaseException, **kwargs: Any) -> sqlalchemy.exc.DBAPIError:
    return sqlalchemy.exc.DBAPIError.instance("UPDATE x", {}, orig, Exception, **kwargs)


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (_wrapped(sqlite3.OperationalError("database is locked")), True),
        (_wrapped(sqlite3.OperationalError("database table is busy")), True),
        (_wrapped(sqlite3.OperationalError("no such table: workflow")), False),
        (_wrapped(Exception("server closed"), connection_invalidated=True), True),
        (_wrapped(psycopg.errors.SerializationFailure("could not serialize")), True),
        (_wrapped(psycopg.errors.DeadlockDetected("deadlock detected")), True),
        (_wrapped(psycopg.errors.LockNotAvailable("lock timeout")), True),
        (_wrapped(psycopg.errors.AdminShutdown("terminating connection")), True),
        (_wrapped(psycopg.errors.ConnectionFailure("connection failure")), True),
        (_wrapped(psycopg.OperationalError("connection refused")), True),
        (_wrapped(psycopg.errors.UniqueViolation("duplicate key")), False),
        (_wrapped(psycopg.errors.QueryCanceled("statement timeout")), False),
        (_wrapped(psycopg.errors.UndefinedTable("no relation")), False),
        (psycopg.errors.SerializationFailure("unwrapped"), True),
        (sqlalchemy.exc.DisconnectionError("gone"), True),
        (sqlalchemy.exc.TimeoutError("pool exhausted"), True),
        (
            _chained(
                RuntimeError("saving failed"),
                _wrapped(psycopg.errors.DeadlockDetected("x")),
            ),
            True,
        ),
        (ValueError("bad grade"), False),
        (WorkflowError("a task failed"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else "",
)
def test_is_transient_error(exc: BaseException, transient: bool) -> None:
    assert is_transient_error(exc) is transient


def test_is_transient_error_follows_the_context_of_a_failed_handler() -> None:
    try:
        try:
            raise psycopg.errors.SerializationFailure("first")
        except psycopg.Error:
            raise KeyError("while handling it") from None
    except KeyError as exc:
        # `from None` hides the context from tracebacks, not from __context__.
        assert is_transient_error(exc) is True


@pytest.mark.parametrize(
    ("retries", "base", "maximum", "draw", "delay"),
    [
        (0, 1.0, 60.0, 0.0, 0.5),
        (0, 1.0, 60.0, 0.5, 0.75),
        (1, 1.0, 60.0, 0.0, 1.0),
        (3, 1.0, 60.0, 0.0, 4.0),
        (3, 0.5, 60.0, 0.5, 3.0),
        (6, 1.0, 60.0, 0.0, 30.0),
        (10, 1.0, 60.0, 0.0, 30.0),
        (10, 1.0, 60.0, 0.5, 45.0),
        (100_000, 2.0, 10.0, 0.0, 5.0),
    ],
)
def test_retry_delay(
    retries: int, base: float, maximum: float, draw: float, delay: float
) -> None:
    assert retry_delay(retries, base, maximum, rng=lambda: draw) == delay


def test_retry_delay_stays_between_half_and_full_ceiling() -> None:
    delays = [retry_delay(2, 1.0, 60.0) for _ in range(200)]
    assert all(2.0 <= value < 4.0 for value in delays)


# ---------------------------------------------------------------------------
# The tasks, run in this process


@pytest.fixture
def local_tasks(sqlite_url: str) -> Iterator[tuple[WorkflowTasks, WorkflowStore]]:
    store = make_store(sqlite_url)
    app = Celery("in_process", set_as_current=False)
    # The tests that make a task retry need not wait for it.
    tasks = register_tasks(app, sqlite_url, retry_backoff=0.01)
    try:
        yield tasks, store
    finally:
        tasks.store().dispose()
        store.dispose()


def test_start_task_returns_the_halted_result(local_tasks) -> None:
    tasks, store = local_tasks
    result = tasks.start.apply(args=["halt_once", [item(0, halt=True)]]).get()
    assert result == {
        "uuid": result["uuid"],
        "name": "halt_once",
        "status": "HALTED",
        "halted_message": "waiting for a resume",
        "error": None,
        "skipped": None,
        "replayed": False,
    }
    assert get_workflow(result["uuid"], store).status is WorkflowStatus.HALTED


def test_resume_task_completes_a_halted_workflow(local_tasks) -> None:
    tasks, store = local_tasks
    uuid = start("halt_once", [item(0, halt=True), item(1)], store).uuid
    result = tasks.resume.apply(args=[uuid]).get()
    assert result == {
        "uuid": uuid,
        "name": "halt_once",
        "status": "COMPLETED",
        "halted_message": None,
        "error": None,
        "skipped": None,
        "replayed": False,
    }
    assert [o.data["count"] for o in list_objects(uuid, store)] == [1, 1]


def test_restart_task_runs_again_from_the_given_position(local_tasks) -> None:
    tasks, store = local_tasks
    uuid = start("halt_once", [item(0), item(1)], store).uuid
    result = tasks.restart.apply(args=[uuid, "first", "first"]).get()
    assert (result["status"], result["skipped"]) == ("COMPLETED", None)
    assert [o.data["count"] for o in list_objects(uuid, store)] == [2, 2]


def test_resume_of_a_completed_workflow_is_a_no_op(local_tasks) -> None:
    tasks, store = local_tasks
    uuid = start("halt_once", [item(0)], store).uuid
    result = tasks.resume.apply(args=[uuid]).get()
    assert result == {
        "uuid": uuid,
        "name": "halt_once",
        "status": "COMPLETED",
        "halted_message": None,
        "error": None,
        "skipped": "already completed",
        "replayed": False,
    }
    assert [o.data["count"] for o in list_objects(uuid, store)] == [1]


def test_a_forced_resume_of_a_completed_workflow_says_nothing_ran(
    local_tasks,
) -> None:
    tasks, store = local_tasks
    uuid = start("halt_once", [item(0)], store).uuid
    result = tasks.resume.apply(args=[uuid], kwargs={"force": True}).get()
    assert result == {
        "uuid": uuid,
        "name": "halt_once",
        "status": "COMPLETED",
        "halted_message": None,
        "error": None,
        "skipped": "already completed",
        "replayed": False,
    }
    assert [o.data["count"] for o in list_objects(uuid, store)] == [1]


@pytest.mark.parametrize(
    "spell",
    [str.upper, lambda u: u.replace("-", ""), lambda u: "{" + u + "}"],
    ids=["upper-case", "no-hyphens", "braces"],
)
@pytest.mark.parametrize("kind", ["resume", "restart"])
def test_any_spelling_of_a_uuid_finds_its_workflow(
    local_tasks, kind: str, spell: Callable[[str], str]
) -> None:
    tasks, store = local_tasks
    uuid = start("halt_once", [item(0, halt=True)], store).uuid
    result = getattr(tasks, kind).apply(args=[spell(uuid)]).get()
    # The result names the workflow by its stored, canonical uuid.
    assert (result["uuid"], result["status"], result["skipped"]) == (
        uuid,
        "COMPLETED",
        None,
    )


@pytest.fixture
def live_run(
    local_tasks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, dict[str, Any]]]:
    """A workflow that a resume in another thread is running right now.

    The run waits in object 0 until the release file exists, which a timer
    creates after a few seconds at the latest (so that a task wrongly
    running the workflow in the test's thread is released too). Yields the
    uuid and a dict that gets the live run's ``"result"``.
    """
    _, store = local_tasks
    monkeypatch.setenv("WORKFLOW_TEST_DIR", str(tmp_path))
    data = [item(0, halt=True, block=True), item(1)]
    uuid = start("block_then_count", data, store).uuid
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = resume(uuid, store).to_dict()
        except Exception as exc:
            outcome["result"] = repr(exc)

    owner = threading.Thread(target=run, daemon=True)
    release = threading.Timer(3.0, (tmp_path / celery_definitions.RELEASE_FILE).touch)
    owner.start()
    release.start()
    try:
        wait_until(lambda: executions(tmp_path), 10, "the live run to block")
        yield uuid, outcome
    finally:
        release.join()
        owner.join(20)


@pytest.mark.parametrize("retries", [0, 1], ids=["first-delivery", "retried"])
@pytest.mark.parametrize("kind", ["resume", "restart"])
def test_a_task_leaves_a_live_run_alone(
    local_tasks, live_run, tmp_path: Path, kind: str, retries: int
) -> None:
    tasks, store = local_tasks
    uuid, owner = live_run
    args = [uuid] if kind == "resume" else [uuid, "first", "first"]
    result = getattr(tasks, kind).apply(args=args, retries=retries).get()
    assert result == {
        "uuid": uuid,
        "name": "block_then_count",
        "status": "RUNNING",
        "halted_message": None,
        "error": None,
        "skipped": "already running",
        "replayed": False,
    }
    wait_until(lambda: "result" in owner, 20, "the live run to finish")
    assert owner["result"]["status"] == "COMPLETED"
    assert executions(tmp_path) == ["block 0 local", "block 1 local"]
    assert [o.data["count"] for o in list_objects(uuid, store)] == [1, 1]


def test_a_forced_resume_takes_over_a_running_workflow(local_tasks) -> None:
    tasks, store = local_tasks
    uuid = start("halt_once", [item(0, halt=True), item(1)], store).uuid
    set_running(store, uuid)
    result = tasks.resume.apply(args=[uuid], kwargs={"force": True}).get()
    assert (result["status"], result["skipped"]) == ("COMPLETED", None)
    assert [o.data["count"] for o in list_objects(uuid, store)] == [1, 1]


def test_a_retried_restart_of_a_stopped_workflow_restarts_it(local_tasks) -> None:
    tasks, store = local_tasks
    uuid = start("halt_once", [item(0), item(1)], store).uuid
    result = tasks.restart.apply(args=[uuid, "first", "first"], retries=1).get()
    assert (result["status"], result["skipped"]) == ("COMPLETED", None)
    assert [o.data["count"] for o in list_objects(uuid, store)] == [2, 2]


def test_a_retried_resume_carries_on_the_run_its_attempt_left_running(
    local_tasks, caplog: pytest.LogCaptureFixture
) -> None:
    tasks, store = local_tasks
    uuid = start("halt_once", [item(0, halt=True), item(1), item(2)], store).uuid
    fail_nth_workflow_update(tasks.store(), AFTER_THE_CLAIM)
    with caplog.at_level(logging.WARNING, logger="workflow.contrib.celery"):
        result = tasks.resume.apply(args=[uuid]).get()
    assert "hit a transient database error, retry 1" in caplog.text
    assert (result["status"], result["skipped"]) == ("COMPLETED", None)
    assert [o.data["count"] for o in list_objects(uuid, store)] == [1, 1, 1]


def test_a_retried_restart_carries_on_the_run_its_attempt_left_running(
    local_tasks, caplog: pytest.LogCaptureFixture
) -> None:
    tasks, store = local_tasks
    uuid = start("halt_once", [item(0), item(1)], store).uuid
    # The update after the first object's start: the restart's position is
    # saved by then (see docs/celery.rst for a restart stopped before).
    fail_nth_workflow_update(tasks.store(), AFTER_THE_CLAIM + 1)
    with caplog.at_level(logging.WARNING, logger="workflow.contrib.celery"):
        result = tasks.restart.apply(args=[uuid, "first", "first"]).get()
    assert "hit a transient database error, retry 1" in caplog.text
    assert (result["status"], result["skipped"]) == ("COMPLETED", None)
    # Restarted once: not twice, and not left where it was before.
    assert [o.data["count"] for o in list_objects(uuid, store)] == [2, 2]


@pytest.mark.parametrize(
    ("flags", "status"),
    [
        ({"take_over": True}, FAILED),
        ({"take_over": True, "allow_changed_definition": True}, "COMPLETED"),
        ({"force": True}, "COMPLETED"),
    ],
    ids=["take-over-only", "both", "force"],
)
def test_a_take_over_checks_the_definition_unless_allowed(
    local_tasks, flags: dict[str, bool], status: str
) -> None:
    tasks, store = local_tasks
    uuid = start("halt_once", [item(0, halt=True), item(1)], store).uuid
    set_running(store, uuid)
    with store.engine.begin() as conn:
        conn.execute(sqlalchemy.text("UPDATE workflow_workflow SET fingerprint = 'x'"))
    result = tasks.resume.apply(args=[uuid], kwargs=flags).get()
    assert result["status"] == status
    if status == FAILED:
        assert result["error"].startswith(
            "DefinitionChangedError: The definition 'halt_once' changed since"
            f" workflow {uuid} was saved"
        ), result["error"]
        assert get_workflow(uuid, store).status is WorkflowStatus.RUNNING
        assert [o.data["count"] for o in list_objects(uuid, store)] == [0, 0]
    else:
        assert [o.data["count"] for o in list_objects(uuid, store)] == [1, 1]


@pytest.mark.parametrize("kind", ["resume", "restart"])
@pytest.mark.parametrize("flag", ["force", "take_over", "allow_changed_definition"])
def test_the_claim_flags_must_be_booleans(local_tasks, kind: str, flag: str) -> None:
    tasks, store = local_tasks
    uuid = start("halt_once", [item(0, halt=True)], store).uuid
    result = getattr(tasks, kind).apply(args=[uuid], kwargs={flag: "yes"}).get()
    assert (result["status"], result["error"]) == (
        FAILED,
        f"ValueError: {flag} must be true or false, got 'yes'",
    )
    assert get_workflow(uuid, store).status is WorkflowStatus.HALTED


def test_a_stored_name_that_names_no_definition_is_refused(local_tasks) -> None:
    tasks, store = local_tasks
    uuid = start("halt_once", [item(0, halt=True)], store).uuid
    with store.engine.begin() as conn:
        conn.execute(sqlalchemy.text("UPDATE workflow_workflow SET name = 'os:sep'"))
    result = tasks.resume.apply(args=[uuid]).get()
    assert result == {
        "uuid": uuid,
        "name": None,
        "status": FAILED,
        "halted_message": None,
        "error": (
            "WorkflowDefinitionError: the definition 'os:sep' is str '/', not a"
            " workflow definition: point at a list of tasks, or at a class whose"
            " `workflow` attribute is one"
        ),
        "skipped": None,
        "replayed": False,
    }
    assert get_workflow(uuid, store).status is WorkflowStatus.HALTED


AFTER_THE_CLAIM = 3


def fail_nth_workflow_update(store: WorkflowStore, n: int) -> None:
    """Make the ``n``-th UPDATE of the workflow table fail as a locked file.

    In a run, update 1 locks the workflow's row for the claim, update 2 is
    the claim (failing either leaves the workflow as it was), and update 3
    the first save of the run, after the claim was committed.
    """
    seen = {"updates": 0}

    @event.listens_for(store.engine, "before_cursor_execute")
    def locked(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.startswith("UPDATE workflow_workflow"):
            seen["updates"] += 1
            if seen["updates"] == n:
                raise sqlite3.OperationalError("database is locked")


@pytest.mark.parametrize(
    "n",
    [1, 2, AFTER_THE_CLAIM],
    ids=["locking", "at-the-claim", "after-the-claim"],
)
def test_a_retried_start_goes_on_with_the_workflow_its_attempt_stored(
    local_tasks, n: int, caplog: pytest.LogCaptureFixture
) -> None:
    tasks, store = local_tasks
    fail_nth_workflow_update(tasks.store(), n)
    with caplog.at_level(logging.WARNING, logger="workflow.contrib.celery"):
        outcome = tasks.start.apply(args=["halt_once", [item(0), item(1)]])
    assert "hit a transient database error, retry 1" in caplog.text
    result = outcome.get()
    assert (result["status"], result["skipped"]) == ("COMPLETED", None)
    assert [w.uuid for w in list_workflows(store)] == [result["uuid"]]
    assert [o.data["count"] for o in list_objects(result["uuid"], store)] == [1, 1]


def test_a_retried_start_keeps_its_flags(local_tasks) -> None:
    tasks, store = local_tasks
    fail_nth_workflow_update(tasks.store(), AFTER_THE_CLAIM)
    result = tasks.start.apply(
        args=["halt_once", [item(0, halt=True), item(1)]],
        kwargs={"stop_on_halt": False},
    ).get()
    assert result == {
        "uuid": result["uuid"],
        "name": "halt_once",
        "status": "COMPLETED",
        "halted_message": None,
        "error": None,
        "skipped": None,
        "replayed": False,
    }
    assert [w.uuid for w in list_workflows(store)] == [result["uuid"]]
    # stop_on_halt=False held in the retry too: the run went past the halt.
    objects = list_objects(result["uuid"], store)
    assert [(o.status, o.data["count"]) for o in objects] == [
        (ObjectStatus.HALTED, 0),
        (ObjectStatus.COMPLETED, 1),
    ]


@pytest.mark.parametrize(
    ("name", "flags", "status", "halted_message", "error"),
    [
        ("halt_once", {"halt": True}, "HALTED", "waiting for a resume", None),
        (
            "fail_on_marked",
            {"fail": True},
            "ERROR",
            None,
            "ValueError: object 0 is broken",
        ),
        ("halt_once", {}, "COMPLETED", None, None),
    ],
    ids=["halted", "error", "completed"],
)
def test_a_start_delivered_again_returns_what_its_first_delivery_did(
    local_tasks,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    flags: dict[str, bool],
    status: str,
    halted_message: str | None,
    error: str | None,
) -> None:
    tasks, store = local_tasks
    monkeypatch.setenv("WORKFLOW_TEST_DIR", str(tmp_path))
    data = [item(0, **flags), item(1)]
    first = tasks.start.apply(args=[name, data], task_id="start-message-1").get()
    counts = [o.data["count"] for o in list_objects(first["uuid"], store)]
    again = tasks.start.apply(args=[name, data], task_id="start-message-1").get()
    uuid = workflow_uuid_for("start-message-1")
    assert [w.uuid for w in list_workflows(store)] == [uuid]
    assert [o.data["count"] for o in list_objects(uuid, store)] == counts
    if error is not None:
        # The failing task ran once: the second delivery ran nothing.
        assert executions(tmp_path) == ["fail 0 local"]
    assert first == {
        "uuid": uuid,
        "name": name,
        "status": status,
        "halted_message": halted_message,
        "error": error,
        "skipped": None,
        "replayed": False,
    }
    assert again == {**first, "replayed": True}


def test_a_start_uses_the_uuid_it_is_given(local_tasks) -> None:
    tasks, store = local_tasks
    given = "0F8FAD5B-D9CB-469F-A165-70867728950E"
    result = tasks.start.apply(
        args=["halt_once", [item(0)]], kwargs={"uuid": given}
    ).get()
    assert (result["uuid"], result["status"]) == (given.lower(), "COMPLETED")
    assert [w.uuid for w in list_workflows(store)] == [given.lower()]


def test_a_start_given_the_uuid_of_another_workflow_is_refused(local_tasks) -> None:
    tasks, store = local_tasks
    uuid = start("halt_once", [item(0, halt=True)], store).uuid
    result = tasks.start.apply(
        args=["halt_once", [item(0)]], kwargs={"uuid": uuid}
    ).get()
    assert (result["uuid"], result["status"], result["replayed"]) == (
        uuid,
        FAILED,
        False,
    )
    assert result["error"].startswith(f"{EXISTS_ERROR}: "), result["error"]
    assert uuid in result["error"]
    assert [(w.uuid, w.status) for w in list_workflows(store)] == [
        (uuid, WorkflowStatus.HALTED)
    ]
    assert [o.data for o in list_objects(uuid, store)] == [item(0, halt=True)]


def test_workflow_uuid_for_refuses_a_non_string() -> None:
    with pytest.raises(TypeError, match="message_id must be a task id string, got int"):
        workflow_uuid_for(5)  # type: ignore[arg-type]


def test_workflow_error_is_recorded_and_returned(
    local_tasks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks, store = local_tasks
    monkeypatch.setenv("WORKFLOW_TEST_DIR", str(tmp_path))
    result = tasks.start.apply(args=["fail_on_marked", [item(0, fail=True)]]).get()
    assert result == {
        "uuid": result["uuid"],
        "name": "fail_on_marked",
        "status": "ERROR",
        "halted_message": None,
        "error": "ValueError: object 0 is broken",
        "skipped": None,
        "replayed": False,
    }
    [obj] = list_objects(result["uuid"], store)
    assert obj.status is ObjectStatus.ERROR
    assert "ValueError: object 0 is broken" in obj.error_message
    assert executions(tmp_path) == ["fail 0 local"]


@pytest.mark.parametrize(
    ("kind", "args", "uuid", "name", "error"),
    [
        (
            "start",
            ["no-such-workflow", []],
            None,
            "no-such-workflow",
            "UnknownWorkflowError: No workflow definition is registered under"
            " 'no-such-workflow'.",
        ),
        (
            "start",
            ["os:sep", []],
            None,
            "os:sep",
            "UnknownWorkflowError: No workflow definition is registered under"
            " 'os:sep'.",
        ),
        (
            "start",
            ["halt_once", {"i": 0}],
            None,
            "halt_once",
            "ValueError: data must be a JSON list with one item per object, got dict"
            " {'i': 0}",
        ),
        (
            "start",
            ["halt_once", [{"x": float("nan")}]],
            None,
            "halt_once",
            "UnserializableDataError: Cannot store data[0]['x'] is nan",
        ),
        (
            "start",
            [["not", "a", "name"], []],
            None,
            None,
            "ValueError: name must be a workflow name string, got ['not', 'a', 'name']",
        ),
        (
            "start",
            ["halt_once", [], "yes"],
            None,
            "halt_once",
            "ValueError: stop_on_halt must be true or false, got 'yes'",
        ),
        (
            "resume",
            [UNKNOWN_UUID],
            UNKNOWN_UUID,
            None,
            f"WorkflowNotFoundError: No workflow with uuid '{UNKNOWN_UUID}'",
        ),
        (
            "resume",
            ["not-a-uuid"],
            "not-a-uuid",
            None,
            "ValueError: uuid 'not-a-uuid' is not a valid UUID",
        ),
        (
            "resume",
            [42],
            None,
            None,
            "ValueError: uuid must be a workflow uuid string, got int 42",
        ),
        (
            "restart",
            [UNKNOWN_UUID, "middle"],
            UNKNOWN_UUID,
            None,
            "ValueError: Unknown object position for restart(): 'middle'; use"
            " 'prev', 'current', 'next' or 'first'",
        ),
        (
            "restart",
            [UNKNOWN_UUID, "first", "last"],
            UNKNOWN_UUID,
            None,
            "ValueError: Unknown task position for restart(): 'last'; use"
            " 'prev', 'current', 'next' or 'first'",
        ),
        (
            "restart",
            [UNKNOWN_UUID],
            UNKNOWN_UUID,
            None,
            f"WorkflowNotFoundError: No workflow with uuid '{UNKNOWN_UUID}'",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and " " not in value else "",
)
def test_bad_input_is_reported_in_the_result(
    local_tasks, kind: str, args: list[Any], uuid: Any, name: Any, error: str
) -> None:
    tasks, _ = local_tasks
    result = getattr(tasks, kind).apply(args=args).get()
    assert result["error"].startswith(error), result["error"]
    assert {**result, "error": None} == {
        "uuid": uuid,
        "name": name,
        "status": FAILED,
        "halted_message": None,
        "error": None,
        "skipped": None,
        "replayed": False,
    }


def test_non_transient_database_error_fails_the_task_without_retry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = Celery("broken_schema", set_as_current=False)
    # A database that claims the current schema revision but whose workflow
    # objects table is missing: the first query fails, and would fail again.
    path = tmp_path / "broken.db"
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32))")
        db.execute(f"INSERT INTO {VERSION_TABLE} VALUES (?)", (SCHEMA_REVISION,))
        db.execute("CREATE TABLE workflow_workflow (uuid VARCHAR(36))")
    tasks = register_tasks(app, f"sqlite:///{path}")
    try:
        with caplog.at_level(logging.WARNING, logger="workflow.contrib.celery"):
            outcome = tasks.resume.apply(args=[UNKNOWN_UUID])
        assert outcome.state == "FAILURE"
        assert isinstance(outcome.result, sqlalchemy.exc.OperationalError)
        assert "no such table: workflow_object" in str(outcome.result)
        assert [r for r in caplog.records if r.name == "workflow.contrib.celery"] == []
    finally:
        tasks.store().dispose()


@pytest.fixture
def locked_postgresql(postgresql_url: str) -> Iterator[tuple[str, threading.Event]]:
    """A PostgreSQL store whose workflow table the test holds locked.

    Yields the URL and an event; setting the event releases the lock.
    """
    store = make_store(postgresql_url)
    store.dispose()
    locked = threading.Event()
    release = threading.Event()
    plain_url = postgresql_url.replace("postgresql+psycopg://", "postgresql://")

    def hold_lock() -> None:
        with psycopg.connect(plain_url) as conn:
            conn.execute("LOCK TABLE workflow_workflow IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(60)

    holder = threading.Thread(target=hold_lock, daemon=True)
    holder.start()
    try:
        assert locked.wait(10), "could not lock the workflow table"
        yield postgresql_url, release
    finally:
        release.set()
        holder.join(10)


LOCK_TIMEOUT_OPTIONS = {"connect_args": {"options": "-c lock_timeout=100"}}


@pytest.mark.postgresql
@pytest.mark.timeout(60)
def test_transient_database_errors_are_retried_then_given_up(
    locked_postgresql, caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = locked_postgresql
    app = Celery("locked", set_as_current=False)
    tasks = register_tasks(
        app,
        url,
        max_retries=2,
        retry_backoff=0.01,
        store_options=LOCK_TIMEOUT_OPTIONS,
    )
    try:
        with caplog.at_level(logging.WARNING, logger="workflow.contrib.celery"):
            outcome = tasks.start.apply(args=["halt_once", [item(0)]])
        assert outcome.state == "FAILURE"
        assert isinstance(outcome.result, sqlalchemy.exc.OperationalError)
        assert isinstance(outcome.result.orig, psycopg.errors.LockNotAvailable)
        messages = [
            record.getMessage().split(":")[0]
            for record in caplog.records
            if record.name == "workflow.contrib.celery"
        ]
        assert [re.sub(r"in [\d.]+ s", "in N s", m) for m in messages] == [
            "Task workflow.start hit a transient database error, retry 1 in N s",
            "Task workflow.start hit a transient database error, retry 2 in N s",
            "Task workflow.start gave up after 2 retries on a database error",
        ]
    finally:
        tasks.store().dispose()


# ---------------------------------------------------------------------------
# Through real workers


@pytest.fixture(scope="module")
def sqlite_worker(redis_server: str, tmp_path_factory: pytest.TempPathFactory):
    """One worker on a SQLite store, shared by the tests of this module."""
    directory = tmp_path_factory.mktemp("sqlite-worker")
    url = f"sqlite:///{directory / 'wf.db'}"
    store = make_store(url)
    broker = empty_redis_db(redis_server, 1)
    pool = WorkerPool(broker, directory)
    app = client_app(broker)
    try:
        worker = pool.start("single", url)
        pool.wait_ready(worker)
        yield worker, client_tasks(app), store, directory
    finally:
        pool.stop_all()
        app.close()
        store.dispose()


@pytest.mark.celery
@pytest.mark.timeout(60)
def test_worker_starts_and_resumes_a_workflow(sqlite_worker) -> None:
    worker, tasks, store, _ = sqlite_worker
    started = tasks.start.delay("halt_once", [item(0, halt=True), item(1)])
    first = started.get(timeout=RESULT_TIMEOUT)
    assert first == {
        "uuid": first["uuid"],
        "name": "halt_once",
        "status": "HALTED",
        "halted_message": "waiting for a resume",
        "error": None,
        "skipped": None,
        "replayed": False,
    }
    second = tasks.resume.delay(first["uuid"]).get(timeout=RESULT_TIMEOUT)
    assert second == {**first, "status": "COMPLETED", "halted_message": None}
    objects = list_objects(first["uuid"], store)
    assert [(o.data["count"], o.data["workers"]) for o in objects] == [
        (1, ["single"]),
        (1, ["single"]),
    ]


@pytest.mark.celery
@pytest.mark.timeout(60)
def test_worker_returns_a_workflow_error_without_retrying(sqlite_worker) -> None:
    worker, tasks, store, directory = sqlite_worker
    sent = tasks.start.delay("fail_on_marked", [item(7, fail=True)])
    result = sent.get(timeout=RESULT_TIMEOUT)
    assert (result["status"], result["error"]) == (
        "ERROR",
        "ValueError: object 7 is broken",
    )
    assert sent.state == "SUCCESS"
    assert [line for line in executions(directory) if " 7 " in line] == [
        "fail 7 single"
    ]


@pytest.mark.celery
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("kind", "args", "error"),
    [
        ("start", ["no-such-workflow", []], "UnknownWorkflowError: "),
        ("resume", [UNKNOWN_UUID], "WorkflowNotFoundError: "),
        ("start", ["halt_once", [{"x": float("nan")}]], "UnserializableDataError: "),
        ("start", ["halt_once", "abc"], "ValueError: data must be a JSON list"),
        ("start", ["os:sep", []], "UnknownWorkflowError: "),
    ],
    ids=[
        "unknown-name",
        "unknown-uuid",
        "nan-data",
        "data-not-a-list",
        "import-path-to-no-definition",
    ],
)
def test_worker_reports_bad_input_and_keeps_serving(
    sqlite_worker, kind: str, args: list[Any], error: str
) -> None:
    worker, tasks, _, _ = sqlite_worker
    bad = getattr(tasks, kind).delay(*args).get(timeout=RESULT_TIMEOUT)
    assert (bad["status"], bad["error"][: len(error)]) == (FAILED, error)
    good = tasks.start.delay("halt_once", [item(0)]).get(timeout=RESULT_TIMEOUT)
    assert good["status"] == "COMPLETED"
    assert worker.proc.poll() is None


@pytest.mark.celery
@pytest.mark.timeout(60)
def test_a_start_message_cannot_make_the_worker_run_a_file(
    sqlite_worker, tmp_path: Path
) -> None:
    _, tasks, store, _ = sqlite_worker
    planted = tmp_path / "uploads" / "planted.py"
    planted.parent.mkdir()
    executed = tmp_path / "planted-was-executed"
    planted.write_text(
        f"open({str(executed)!r}, 'w').write('code chosen by the sender ran')\n"
        "workflow = [print]\n"
    )
    name = f"{planted}:workflow"
    result = tasks.start.delay(name, [item(0)]).get(timeout=RESULT_TIMEOUT)
    assert not executed.exists()
    assert result["status"] == FAILED
    assert result["error"].startswith(
        f"UnknownWorkflowError: No workflow definition is registered under {name!r}."
    ), result["error"]
    assert [w for w in list_workflows(store) if w.name == name] == []


@pytest.mark.celery
@pytest.mark.timeout(60)
def test_a_start_whose_workflow_is_taken_over_reports_it(sqlite_worker) -> None:
    _, tasks, store, _ = sqlite_worker
    sent = tasks.start.delay("taken_over_once", [item(0, steal=True), item(1)])
    result = sent.get(timeout=RESULT_TIMEOUT)
    assert result == {
        "uuid": result["uuid"],
        "name": "taken_over_once",
        "status": "RUNNING",
        "halted_message": None,
        "error": None,
        "skipped": "already running",
        "replayed": False,
    }
    assert [w.uuid for w in list_workflows(store) if w.name == "taken_over_once"] == [
        result["uuid"]
    ]


@pytest.mark.celery
def test_client_refuses_data_json_cannot_carry(sqlite_worker) -> None:
    _, tasks, _, _ = sqlite_worker
    with pytest.raises(kombu.exceptions.EncodeError):
        tasks.start.delay("halt_once", [{1, 2}])


# -- PostgreSQL, several workers ----------------------------------------------


@pytest.mark.celery
@pytest.mark.postgresql
@pytest.mark.timeout(90)
def test_fifty_workflows_resumed_across_two_workers(
    worker_pool: WorkerPool, postgresql_url: str
) -> None:
    store = make_store(postgresql_url)
    app = client_app(worker_pool.broker_url)
    try:
        workers = [worker_pool.start(name, postgresql_url) for name in ("w1", "w2")]
        uuids = []
        for n in range(50):
            data = [item(0, halt=True, pause=0.01), item(1, pause=0.01)]
            result = start("halt_once", data, store)
            assert result.status is WorkflowStatus.HALTED, n
            uuids.append(result.uuid)
        worker_pool.wait_ready(*workers)
        tasks = client_tasks(app)
        sent = [tasks.resume.delay(uuid) for uuid in uuids]
        results = [message.get(timeout=RESULT_TIMEOUT) for message in sent]
        assert {(r["status"], r["skipped"]) for r in results} == {("COMPLETED", None)}
        counts = []
        done_by = set()
        for uuid in uuids:
            for obj in list_objects(uuid, store):
                counts.append(obj.data["count"])
                done_by.update(obj.data["workers"])
        assert counts == [1] * 100
        assert done_by == {"w1", "w2"}
    finally:
        app.close()
        store.dispose()


@pytest.mark.celery
@pytest.mark.postgresql
@pytest.mark.timeout(90)
def test_a_killed_workers_resume_is_redelivered_and_completed_by_the_other(
    worker_pool: WorkerPool, postgresql_url: str
) -> None:
    store = make_store(postgresql_url)
    app = client_app(worker_pool.broker_url)
    directory = worker_pool.directory
    try:
        workers = {
            name: worker_pool.start(name, postgresql_url) for name in ("w1", "w2")
        }
        data = [item(0, halt=True, block=True), item(1), item(2)]
        uuid = start("block_then_count", data, store).uuid
        worker_pool.wait_ready(*workers.values())
        sent = client_tasks(app).resume.delay(uuid)

        wait_until(lambda: executions(directory), 20, "the blocking task to start")
        [first] = executions(directory)
        victim = first.split()[-1]
        [survivor] = set(workers) - {victim}
        workers[victim].kill()
        (directory / celery_definitions.RELEASE_FILE).touch()

        result = sent.get(timeout=VISIBILITY_TIMEOUT + RESULT_TIMEOUT)
        assert result == {
            "uuid": uuid,
            "name": "block_then_count",
            "status": "COMPLETED",
            "halted_message": None,
            "error": None,
            "skipped": None,
            "replayed": False,
        }
        # The interrupted task ran twice (at least once); the objects were
        # each completed once, all by the surviving worker.
        assert executions(directory) == [
            f"block 0 {victim}",
            f"block 0 {survivor}",
            f"block 1 {survivor}",
            f"block 2 {survivor}",
        ]
        objects = list_objects(uuid, store)
        assert [(o.data["count"], o.data["workers"]) for o in objects] == [
            (1, [survivor]),
            (1, [survivor]),
            (1, [survivor]),
        ]
        # The redelivery took over the run its own first delivery claimed.
        assert [
            entry.message_id
            for entry in workflow_history(uuid, store)
            if entry.event == "taken_over"
        ] == [sent.id]
    finally:
        app.close()
        store.dispose()


@pytest.mark.celery
@pytest.mark.postgresql
@pytest.mark.timeout(60)
def test_a_killed_pool_process_has_its_resume_requeued_and_completed(
    worker_pool: WorkerPool, postgresql_url: str
) -> None:
    store = make_store(postgresql_url)
    app = client_app(worker_pool.broker_url)
    directory = worker_pool.directory
    pid_file = directory / celery_definitions.BLOCKER_PID_FILE
    try:
        worker = worker_pool.start("w1", postgresql_url)
        uuid = start("block_then_count", [item(0, halt=True, block=True)], store).uuid
        worker_pool.wait_ready(worker)
        sent = client_tasks(app).resume.delay(uuid)
        wait_until(pid_file.exists, 20, "the blocking task to start")
        wait_until(lambda: pid_file.read_text(), 5, "the blocking task's pid")
        # Only the pool process dies; the worker's main process sees it go
        # and, with reject_on_worker_lost, puts the message back at once.
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        (directory / celery_definitions.RELEASE_FILE).touch()
        result = sent.get(timeout=RESULT_TIMEOUT)
        assert (result["status"], result["skipped"]) == ("COMPLETED", None)
        assert executions(directory) == ["block 0 w1", "block 0 w1"]
        [obj] = list_objects(uuid, store)
        assert (obj.data["count"], obj.data["workers"]) == (1, ["w1"])
        assert "WorkerLostError" in worker.log()
    finally:
        app.close()
        store.dispose()


@pytest.mark.celery
@pytest.mark.postgresql
@pytest.mark.timeout(60)
def test_worker_retries_a_transient_error_until_it_clears(
    worker_pool: WorkerPool, locked_postgresql
) -> None:
    url, release = locked_postgresql
    app = client_app(worker_pool.broker_url)
    try:
        worker = worker_pool.start(
            "w1",
            url,
            extra_env={
                "WORKFLOW_TEST_STORE_OPTIONS": (
                    '{"connect_args": {"options": "-c lock_timeout=100"}}'
                )
            },
        )
        worker_pool.wait_ready(worker)
        sent = client_tasks(app).start.delay("halt_once", [item(0)])
        wait_until(
            lambda: "hit a transient database error, retry 2" in worker.log(),
            30,
            "the second retry",
        )
        release.set()
        result = sent.get(timeout=RESULT_TIMEOUT)
        assert (result["status"], result["skipped"]) == ("COMPLETED", None)
        store = WorkflowStore(url)
        try:
            [obj] = list_objects(result["uuid"], store)
        finally:
            store.dispose()
        assert obj.data["count"] == 1
    finally:
        app.close()


@pytest.mark.celery
@pytest.mark.postgresql
@pytest.mark.timeout(60)
def test_a_start_retried_after_its_connection_dropped_keeps_its_workflow(
    worker_pool: WorkerPool, postgresql_url: str
) -> None:
    store = make_store(postgresql_url)
    app = client_app(worker_pool.broker_url)
    try:
        worker = worker_pool.start("w1", postgresql_url)
        worker_pool.wait_ready(worker)
        sent = client_tasks(app).start.delay(
            "drop_connection_once", [item(0, drop=True), item(1)]
        )
        result = sent.get(timeout=RESULT_TIMEOUT)
        assert "hit a transient database error, retry 1" in worker.log()
        assert (result["status"], result["skipped"]) == ("COMPLETED", None)
        # One start, one workflow: the retry took over the workflow its first
        # attempt created, rather than leave it RUNNING and start another.
        assert [(w.uuid, w.status) for w in list_workflows(store)] == [
            (result["uuid"], WorkflowStatus.COMPLETED)
        ]
        # Object 0 was interrupted, so ran again from its start; object 1 once.
        assert [o.data["count"] for o in list_objects(result["uuid"], store)] == [
            1,
            1,
        ]
    finally:
        app.close()
        store.dispose()


# -- The 2.0 documentation sample ---------------------------------------------


@pytest.mark.celery
@pytest.mark.timeout(60)
def test_documented_sample_runs_on_a_worker(
    worker_pool: WorkerPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    examples = REPO_ROOT / "examples"
    worker = worker_pool.start(
        "sample", "sqlite:///unused.db", app="celery_sample", queue=None, cwd=examples
    )
    monkeypatch.setenv("CELERY_BROKER_URL", worker_pool.broker_url)
    spec = importlib.util.spec_from_file_location(
        "celery_sample", examples / "celery_sample.py"
    )
    sample = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "celery_sample", sample)
    spec.loader.exec_module(sample)
    try:
        worker_pool.wait_ready(worker)
        sent = sample.run_workflow.delay([{"value": 10}, {"value": 20}, {"value": 30}])
        done = f"Task celery_sample.run_workflow[{sent.id}] succeeded"
        wait_until(lambda: done in worker.log(), RESULT_TIMEOUT, "the sample task")
        printed = re.findall(r"WARNING/\S+\] (.*)$", worker.log(), re.MULTILINE)
        assert printed == ["12", "22", "32"]
    finally:
        sample.app.close()
