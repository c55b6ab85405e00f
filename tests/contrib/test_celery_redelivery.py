"""Redelivered and retried messages do their work once (issue 15, Celery side).

Real ``celery worker`` processes on a real redis, on SQLite and PostgreSQL.
A worker is killed at an exact moment by :mod:`tests.contrib.chaos` (its pool
process SIGKILLs itself): before a task ran anything, or after the task's
run committed but before Celery stored its result. The message then comes
back redelivered with the same task id, and what the redelivery does is
what these tests check, in the database first and in the result second.
"""

from __future__ import annotations

import os
import signal
import uuid as uuid_module
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery

from tests.contrib import celery_definitions
from tests.contrib.celery_app import QUEUE, VISIBILITY_TIMEOUT
from tests.contrib.chaos import CHAOS_VARIABLE, killed
from tests.contrib.conftest import Worker, WorkerPool, wait_until
from tests.contrib.test_celery import (
    RESULT_TIMEOUT,
    client_app,
    executions,
    item,
    make_store,
)
from workflow.contrib.celery import WorkflowTasks, register_tasks
from workflow.engine_db import ObjectStatus, WorkflowStatus
from workflow.storage import (
    WorkflowStore,
    get_workflow,
    list_objects,
    list_workflows,
    start,
)

pytestmark = [pytest.mark.celery, pytest.mark.timeout(90)]

# The namespace docs/celery.rst documents for the uuids of started
# workflows: written out here, so that a change of it fails a test.
DOCUMENTED_NAMESPACE = uuid_module.UUID("75539ba3-36a7-4488-9a06-36659ff07852")
OTHER_QUEUE = "workflow-tests-other"
REDELIVERY_TIMEOUT = VISIBILITY_TIMEOUT + RESULT_TIMEOUT


def derived_uuid(task_id: str) -> str:
    return str(uuid_module.uuid5(DOCUMENTED_NAMESPACE, task_id))


def result_dict(
    uuid: str,
    name: str,
    status: str,
    *,
    halted_message: str | None = None,
    error: str | None = None,
    skipped: str | None = None,
    replayed: bool = False,
) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "name": name,
        "status": status,
        "halted_message": halted_message,
        "error": error,
        "skipped": skipped,
        "replayed": replayed,
    }


@pytest.fixture
def store(store_url: str) -> Iterator[WorkflowStore]:
    store = make_store(store_url)
    try:
        yield store
    finally:
        store.dispose()


@pytest.fixture
def client(worker_pool: WorkerPool) -> Iterator[WorkflowTasks]:
    app: Celery = client_app(worker_pool.broker_url)
    try:
        yield register_tasks(
            app,
            "sqlite:///never-opened.db",
            queue=QUEUE,
            routing_key=QUEUE,
            prefix="wftest",
        )
    finally:
        app.close()


def chaos_worker(
    pool: WorkerPool, store_url: str, plan: str, name: str = "w1", **options: Any
) -> Worker:
    """A ready worker that kills its pool process once, as ``plan`` says."""
    worker = pool.start(name, store_url, extra_env={CHAOS_VARIABLE: plan}, **options)
    pool.wait_ready(worker)
    return worker


def counts(uuid: str, store: WorkflowStore) -> list[int]:
    return [o.data["count"] for o in list_objects(uuid, store)]


# -- 3. A redelivered resume returns the outcome its attempt committed ---------


def test_a_redelivered_resume_does_not_go_past_the_halt_it_committed(
    worker_pool: WorkerPool, client: WorkflowTasks, store: WorkflowStore, store_url: str
) -> None:
    data = [item(0), item(1, halt=True), item(2), item(3, halt=True), item(4)]
    uuid = start("halt_once", data, store).uuid
    chaos_worker(worker_pool, store_url, "before-result:wftest.resume")
    sent = client.resume.delay(uuid)
    result = sent.get(timeout=REDELIVERY_TIMEOUT)
    [[moment, task, task_id, _]] = killed(worker_pool.directory)
    assert (moment, task, task_id) == ("before-result", "wftest.resume", sent.id)
    # The halt at object 3 stands: nobody reviewed it, so object 4 never ran.
    objects = list_objects(uuid, store)
    assert [(o.status, o.data["count"]) for o in objects] == [
        (ObjectStatus.COMPLETED, 1),
        (ObjectStatus.COMPLETED, 1),
        (ObjectStatus.COMPLETED, 1),
        (ObjectStatus.HALTED, 0),
        (ObjectStatus.INITIAL, 0),
    ]
    assert get_workflow(uuid, store).status is WorkflowStatus.HALTED
    assert result == result_dict(
        uuid,
        "halt_once",
        "HALTED",
        halted_message="waiting for a resume",
        replayed=True,
    )


def test_a_redelivered_resume_returns_the_error_it_committed(
    worker_pool: WorkerPool, client: WorkflowTasks, store: WorkflowStore, store_url: str
) -> None:
    data = [item(0, halt=True), item(1, fail=True), item(2)]
    uuid = start("halt_then_fail", data, store).uuid
    chaos_worker(worker_pool, store_url, "before-result:wftest.resume")
    result = client.resume.delay(uuid).get(timeout=REDELIVERY_TIMEOUT)
    assert len(killed(worker_pool.directory)) == 1
    # The failed task ran once and was not skipped by the redelivery.
    assert executions(worker_pool.directory) == ["fail 0 w1", "fail 1 w1"]
    objects = list_objects(uuid, store)
    assert [(o.status, o.data["count"]) for o in objects] == [
        (ObjectStatus.COMPLETED, 1),
        (ObjectStatus.ERROR, 0),
        (ObjectStatus.INITIAL, 0),
    ]
    assert result == result_dict(
        uuid,
        "halt_then_fail",
        "ERROR",
        error="ValueError: object 1 is broken",
        replayed=True,
    )


# -- 4. A redelivered restart does not restart twice ---------------------------


def test_a_redelivered_restart_does_not_run_the_workflow_again(
    worker_pool: WorkerPool, client: WorkflowTasks, store: WorkflowStore, store_url: str
) -> None:
    uuid = start("halt_once", [item(0), item(1)], store).uuid
    assert counts(uuid, store) == [1, 1]
    chaos_worker(worker_pool, store_url, "before-result:wftest.restart")
    result = client.restart.delay(uuid, "first", "first").get(
        timeout=REDELIVERY_TIMEOUT
    )
    assert len(killed(worker_pool.directory)) == 1
    assert counts(uuid, store) == [2, 2]
    assert result == result_dict(uuid, "halt_once", "COMPLETED", replayed=True)


# A restart whose worker died after its claim, before its first object: the
# redelivery restarts from the position the claim stored, once.
def test_a_restart_killed_before_its_first_object_restarts_on_redelivery(
    worker_pool: WorkerPool, client: WorkflowTasks, store: WorkflowStore, store_url: str
) -> None:
    uuid = start("halt_once", [item(0), item(1, halt=True), item(2)], store).uuid
    assert counts(uuid, store) == [1, 0, 0]
    chaos_worker(worker_pool, store_url, "workflow-started:wftest.restart")
    result = client.restart.delay(uuid, "first", "first").get(
        timeout=REDELIVERY_TIMEOUT
    )
    assert [kill[0] for kill in killed(worker_pool.directory)] == ["workflow-started"]
    # Restarted from the first object, once; object 1 halted on its first
    # visit only, so this time it ran on.
    assert counts(uuid, store) == [2, 1, 1]
    assert result == result_dict(uuid, "halt_once", "COMPLETED")


# -- 5. A redelivered start does not create a second workflow ------------------


def test_a_redelivered_start_returns_the_workflow_its_attempt_created(
    worker_pool: WorkerPool, client: WorkflowTasks, store: WorkflowStore, store_url: str
) -> None:
    chaos_worker(worker_pool, store_url, "before-result:wftest.start")
    sent = client.start.delay("halt_once", [item(0, halt=True), item(1)])
    result = sent.get(timeout=REDELIVERY_TIMEOUT)
    assert len(killed(worker_pool.directory)) == 1
    uuid = derived_uuid(sent.id)
    assert [(w.uuid, w.status) for w in list_workflows(store)] == [
        (uuid, WorkflowStatus.HALTED)
    ]
    assert counts(uuid, store) == [0, 0]
    assert result == result_dict(
        uuid,
        "halt_once",
        "HALTED",
        halted_message="waiting for a resume",
        replayed=True,
    )


def test_a_start_killed_mid_run_is_carried_on_by_its_redelivery(
    worker_pool: WorkerPool, client: WorkflowTasks, store: WorkflowStore, store_url: str
) -> None:
    directory = worker_pool.directory
    pid_file = directory / celery_definitions.BLOCKER_PID_FILE
    worker = worker_pool.start("w1", store_url)
    worker_pool.wait_ready(worker)
    sent = client.start.delay(
        "block_then_count", [item(0), item(1, block=True), item(2)]
    )
    wait_until(lambda: pid_file.exists() and pid_file.read_text(), 20, "the block")
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    (directory / celery_definitions.RELEASE_FILE).touch()
    result = sent.get(timeout=REDELIVERY_TIMEOUT)
    uuid = derived_uuid(sent.id)
    # One workflow; object 0 was committed before the kill and is not run
    # again; object 1 was interrupted and runs again from its start.
    assert [(w.uuid, w.status) for w in list_workflows(store)] == [
        (uuid, WorkflowStatus.COMPLETED)
    ]
    assert executions(directory) == [
        "block 0 w1",
        "block 1 w1",
        "block 1 w1",
        "block 2 w1",
    ]
    assert counts(uuid, store) == [1, 1, 1]
    assert result == result_dict(uuid, "block_then_count", "COMPLETED")
    assert "WorkerLostError" in worker.log()


# -- 2. A retried resume never takes over a run it did not claim ---------------


@pytest.mark.postgresql
def test_a_redelivered_resume_that_claimed_nothing_leaves_the_live_run_alone(
    worker_pool: WorkerPool, client: WorkflowTasks, postgresql_url: str
) -> None:
    store = make_store(postgresql_url)
    directory = worker_pool.directory
    try:
        data = [item(0, halt=True, block=True), item(1)]
        uuid = start("block_then_count", data, store).uuid
        owner = worker_pool.start("w1", postgresql_url)
        # The second worker's first delivery dies before its task body ran.
        other = worker_pool.start(
            "w2",
            postgresql_url,
            queue=OTHER_QUEUE,
            extra_env={CHAOS_VARIABLE: "before-run:wftest.resume"},
        )
        worker_pool.wait_ready(owner, other)
        running = client.resume.delay(uuid)
        wait_until(lambda: executions(directory), 20, "the owner's run to block")
        assert executions(directory) == ["block 0 w1"]
        retried = client.resume.apply_async([uuid], queue=OTHER_QUEUE)

        def redelivery_done_or_running() -> bool:
            return retried.ready() or len(executions(directory)) > 1

        wait_until(redelivery_done_or_running, REDELIVERY_TIMEOUT, "the redelivery")
        (directory / celery_definitions.RELEASE_FILE).touch()
        owner_result = running.get(timeout=RESULT_TIMEOUT)
        retried_result = retried.get(timeout=RESULT_TIMEOUT)
        [[moment, task, task_id, _]] = killed(directory)
        assert (moment, task, task_id) == ("before-run", "wftest.resume", retried.id)
        # Only the owner ran: the redelivery did not cut it off.
        assert executions(directory) == ["block 0 w1", "block 1 w1"]
        objects = list_objects(uuid, store)
        assert [(o.data["count"], o.data["workers"]) for o in objects] == [
            (1, ["w1"]),
            (1, ["w1"]),
        ]
        assert owner_result == result_dict(uuid, "block_then_count", "COMPLETED")
        assert retried_result == result_dict(
            uuid, "block_then_count", "RUNNING", skipped="already running"
        )
    finally:
        store.dispose()


def test_the_derived_uuid_namespace_is_the_documented_one() -> None:
    from workflow.contrib.celery import START_UUID_NAMESPACE, workflow_uuid_for

    assert START_UUID_NAMESPACE == DOCUMENTED_NAMESPACE
    assert workflow_uuid_for("a-task-id") == derived_uuid("a-task-id")
