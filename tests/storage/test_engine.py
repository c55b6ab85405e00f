"""StoredWorkflowEngine itself: loading, claiming, fencing, and what it writes."""

from __future__ import annotations

import uuid as uuid_module

import pytest
from sqlalchemy import event, func, select

from workflow.engine_db import ObjectStatus, WorkflowStatus
from workflow.errors import HaltProcessing, WorkflowAPIError
from workflow.storage import (
    ObjectRecord,
    StoredWorkflowEngine,
    WorkflowBusyError,
    WorkflowNotFoundError,
    WorkflowRecord,
    WorkflowStore,
    list_objects,
    registry,
    resume,
    start,
)

from . import wfdefs

REVIEW = "tests.storage.wfdefs:REVIEW"


@pytest.fixture
def store(store_url):
    store = WorkflowStore(store_url)
    store.create_all()
    try:
        yield store
    finally:
        store.dispose()


def test_with_name_stores_a_new_workflow_and_its_objects(store):
    eng = StoredWorkflowEngine.with_name(REVIEW, store, data=[{"id": 0}, {"id": 1}])
    assert (eng.name, eng.status) == (REVIEW, WorkflowStatus.NEW)
    loaded = StoredWorkflowEngine.from_uuid(eng.uuid, store)
    assert [(o.position, o.data, o.status) for o in loaded.database_objects] == [
        (0, {"id": 0}, ObjectStatus.INITIAL),
        (1, {"id": 1}, ObjectStatus.INITIAL),
    ]
    assert [o.id for o in loaded.database_objects] == [
        o.id for o in eng.database_objects
    ]


def test_from_uuid_restores_position_and_extra_data(store):
    halted = start("tests.storage.wfdefs:RESTART", [{"id": 0}, {"id": 1}], store)
    eng = StoredWorkflowEngine.from_uuid(halted.uuid, store)
    assert (eng.status, eng.state.token_pos, eng.state.callback_pos) == (
        WorkflowStatus.HALTED,
        0,
        [1],
    )
    assert [o.id for o in eng.halted_objects] == [eng.database_objects[0].id]
    assert eng.objects is eng.database_objects


def test_from_uuid_of_a_missing_workflow_creates_nothing(store):
    missing = str(uuid_module.uuid4())
    with pytest.raises(WorkflowNotFoundError):
        StoredWorkflowEngine.from_uuid(missing, store)
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(WorkflowRecord)) == 0


def test_process_stores_raw_data_given_to_an_empty_workflow(store):
    eng = StoredWorkflowEngine.with_name(REVIEW, store)
    eng.process([{"id": 0}, {"id": 1}])
    assert eng.status is WorkflowStatus.COMPLETED
    assert [info.data for info in list_objects(eng.uuid, store)] == [
        {"id": 0, "count": 1, "done": True},
        {"id": 1, "count": 1, "done": True},
    ]


def test_process_refuses_objects_that_are_not_the_workflows_own(store):
    eng = StoredWorkflowEngine.with_name(REVIEW, store, data=[{"id": 0}])
    with pytest.raises(WorkflowAPIError) as raised:
        eng.process([{"id": 5}])
    assert "A stored workflow processes its own objects" in str(raised.value)


def test_add_objects_appends_after_the_existing_ones(store):
    eng = StoredWorkflowEngine.with_name(REVIEW, store, data=[{"id": 0}])
    added = eng.add_objects([{"id": 1}, {"id": 2}])
    assert [o.position for o in added] == [1, 2]
    eng.process()
    assert [info.position for info in list_objects(eng.uuid, store)] == [0, 1, 2]


def test_halt_payload_is_saved_with_the_object(store):
    name = f"payload-{uuid_module.uuid4()}"

    def ask(obj, eng):
        eng.halt("look", action="approve", payload={"score": obj.data})

    registry.register(name, [ask])
    eng = StoredWorkflowEngine.with_name(name, store, data=[7])
    with pytest.raises(HaltProcessing):
        eng.process()
    with store.session() as session:
        record = session.scalars(select(ObjectRecord)).one()
        assert (record.halt_message, record.halt_action, record.halt_payload) == (
            "look",
            "approve",
            {"score": 7},
        )


def test_an_engine_loaded_before_another_one_claimed_is_refused(store):
    halted = start(REVIEW, [{"id": 0, "review": True}, {"id": 1}], store)
    first = StoredWorkflowEngine.from_uuid(halted.uuid, store)
    second = StoredWorkflowEngine.from_uuid(halted.uuid, store)
    first.resume()
    with pytest.raises(WorkflowBusyError) as raised:
        second.resume()
    assert "was claimed by another process since it was loaded" in str(raised.value)
    counts = [info.data["count"] for info in list_objects(halted.uuid, store)]
    assert counts == [1, 1]


def test_a_forced_takeover_stops_the_old_runner_at_its_next_save(store):
    name = f"takeover-{uuid_module.uuid4()}"

    taken = []

    def take_over(obj, eng):
        if obj.data["id"] == 1 and not taken:
            taken.append(eng.uuid)
            resume(eng.uuid, store, force=True)

    registry.register(name, [wfdefs.bump, take_over])
    eng = StoredWorkflowEngine.with_name(
        name, store, data=[{"id": i} for i in range(3)]
    )
    with pytest.raises(WorkflowBusyError) as raised:
        eng.process()
    assert "was taken over by another process" in str(raised.value)
    assert [
        (info.status, info.data["count"]) for info in list_objects(eng.uuid, store)
    ] == [(ObjectStatus.COMPLETED, 1)] * 3
    assert StoredWorkflowEngine.from_uuid(eng.uuid, store).status is (
        WorkflowStatus.COMPLETED
    )


@pytest.mark.parametrize(
    ("object_status", "counts"),
    [
        # The object at the saved position finished: go on with the next one.
        (ObjectStatus.COMPLETED, [1, 1, 1]),
        # It was still running: run it again from its saved task position.
        (ObjectStatus.RUNNING, [1, 2, 1]),
    ],
)
def test_forced_resume_of_a_stale_running_workflow(store, object_status, counts):
    done = start(REVIEW, [{"id": i} for i in range(3)], store)
    with store.session() as session:
        record = session.get(WorkflowRecord, done.uuid)
        record.status = WorkflowStatus.RUNNING.value
        record.token_pos = 1
        record.callback_pos = [0]
        for obj in record.objects[1:]:
            obj.status = ObjectStatus.INITIAL.value
        record.objects[1].status = object_status.value
        record.objects[2].data = {"id": 2}
    result = resume(done.uuid, store, force=True)
    assert result.status is WorkflowStatus.COMPLETED
    assert [info.data["count"] for info in list_objects(done.uuid, store)] == counts


def test_each_object_boundary_is_one_commit(store):
    eng = StoredWorkflowEngine.with_name(
        REVIEW, store, data=[{"id": i} for i in range(5)]
    )
    commits = []
    event.listen(store.engine, "commit", lambda connection: commits.append(1))
    eng.process()
    # the claim, the RUNNING save, one per object start (each carrying the
    # previous object's completion), and the final COMPLETED save.
    assert len(commits) == 1 + 1 + 5 + 1


def test_unchanged_data_is_not_written_again(store):
    eng = StoredWorkflowEngine.with_name(
        "tests.storage.wfdefs:KEEP", store, data=[{"id": i} for i in range(3)]
    )
    statements = []
    event.listen(
        store.engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *args: statements.append(statement),
    )
    eng.process()
    object_updates = [s for s in statements if s.startswith("UPDATE workflow_object")]
    assert len(object_updates) == 6
    assert not any("data=" in s for s in object_updates)


def test_the_first_run_writes_changed_data_once_per_object(store):
    eng = StoredWorkflowEngine.with_name(
        REVIEW, store, data=[{"id": i} for i in range(3)]
    )
    statements = []
    event.listen(
        store.engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *args: statements.append(statement),
    )
    eng.process()
    data_updates = [
        s
        for s in statements
        if s.startswith("UPDATE workflow_object") and " data=" in s
    ]
    assert len(data_updates) == 3


C, H, N = ObjectStatus.COMPLETED, ObjectStatus.HALTED, ObjectStatus.INITIAL


@pytest.mark.parametrize(
    ("control", "expected_statuses", "workflow_status", "halted_message"),
    [
        ("continue_next_token", [C, C, C, C], WorkflowStatus.COMPLETED, None),
        ("skip_token", [C, C, C, C], WorkflowStatus.COMPLETED, None),
        ("jump_two", [C, C, N, C], WorkflowStatus.COMPLETED, None),
        ("stop", [C, H, N, N], WorkflowStatus.HALTED, "Processing was stopped"),
        ("abort", [C, H, N, N], WorkflowStatus.HALTED, "Processing was aborted"),
        ("stop_last", [C, C, C, H], WorkflowStatus.HALTED, "Processing was stopped"),
        ("abort_last", [C, C, C, H], WorkflowStatus.HALTED, "Processing was aborted"),
    ],
)
def test_objects_left_early_get_a_final_status(
    store, control, expected_statuses, workflow_status, halted_message
):
    name = f"control-{uuid_module.uuid4()}"

    def act(obj, eng):
        if control.endswith("_last"):
            if obj.data == 3:
                getattr(eng, control[: -len("_last")])()
        elif obj.data == 1:
            if control == "jump_two":
                eng.jump_token(2)
            getattr(eng, control)()

    registry.register(name, [act])
    result = start(name, [0, 1, 2, 3], store)
    assert (result.status, result.halted_message) == (workflow_status, halted_message)
    assert [info.status for info in list_objects(result.uuid, store)] == (
        expected_statuses
    )


def test_resume_of_a_new_workflow_runs_it_from_the_start(store):
    eng = StoredWorkflowEngine.with_name(REVIEW, store, data=[{"id": 0}])
    result = resume(eng.uuid, store)
    assert result.status is WorkflowStatus.COMPLETED
    assert [info.data for info in list_objects(eng.uuid, store)] == [
        {"id": 0, "count": 1, "done": True}
    ]


def test_a_failed_claim_releases_the_database_and_changes_nothing(store):
    from sqlalchemy.exc import OperationalError

    halted = start(REVIEW, [{"id": 0, "review": True}], store)
    failures = []

    def fail_once(connection):
        if not failures:
            failures.append(OperationalError("commit", None, Exception("disk")))
            raise failures[0]

    event.listen(store.engine, "commit", fail_once)
    with pytest.raises(OperationalError) as raised:
        resume(halted.uuid, store)
    assert raised.value is failures[0]
    assert StoredWorkflowEngine.from_uuid(halted.uuid, store).status is (
        WorkflowStatus.HALTED
    )
    assert resume(halted.uuid, store).status is WorkflowStatus.COMPLETED
