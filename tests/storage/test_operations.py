"""Finding, counting, deleting and releasing stored workflows.

The functions the command line's operator commands use, on a real SQLite
file and on the suite's real PostgreSQL.
"""

from __future__ import annotations

import datetime

import pytest
from sqlalchemy import func, select, update

from workflow.engine_db import ObjectStatus, WorkflowStatus
from workflow.errors import WorkflowAPIError
from workflow.storage import (
    AmbiguousUuidError,
    ObjectRecord,
    StoredWorkflowEngine,
    WorkflowBusyError,
    WorkflowNotFoundError,
    WorkflowRecord,
    count_objects,
    delete_workflow,
    get_object,
    get_workflow,
    list_objects,
    list_workflows,
    prune_workflows,
    release_interrupted,
    resolve_uuid,
    resume,
    run_engine,
    start,
)

REVIEW = "tests.storage.wfdefs:REVIEW"
INTERRUPTING = "tests.storage.wfdefs:INTERRUPTING"
LONG_AGO = datetime.datetime(2020, 1, 1, 10, 0, tzinfo=datetime.timezone.utc)


def items(*flags):
    return [dict({"id": index}, **flag) for index, flag in enumerate(flags)]


def set_workflow(store, which, **values):
    """Write ``values`` into the row of the workflow ``which`` (a uuid)."""
    with store.engine.begin() as connection:
        connection.execute(
            update(WorkflowRecord).where(WorkflowRecord.uuid == which).values(**values)
        )


def objectless(store, *uuids):
    """Store one workflow without objects per uuid given."""
    for wanted in uuids:
        start(REVIEW, [], store, uuid=wanted)


# -- uuids ------------------------------------------------------------------------


def test_resolve_uuid_takes_a_prefix_in_any_case(store):
    objectless(
        store,
        "abcd0000-0000-4000-8000-000000000000",
        "abcd1111-0000-4000-8000-000000000000",
        "ffff0000-0000-4000-8000-000000000000",
    )
    assert resolve_uuid("ABCD1", store) == "abcd1111-0000-4000-8000-000000000000"
    assert resolve_uuid("f", store) == "ffff0000-0000-4000-8000-000000000000"
    assert (
        resolve_uuid("{FFFF0000-0000-4000-8000-000000000000}", store)
        == "ffff0000-0000-4000-8000-000000000000"
    )
    with pytest.raises(AmbiguousUuidError) as raised:
        resolve_uuid("abcd", store)
    assert (raised.value.uuid, raised.value.candidates, str(raised.value)) == (
        "abcd",
        [
            "abcd0000-0000-4000-8000-000000000000",
            "abcd1111-0000-4000-8000-000000000000",
        ],
        "'abcd' is the start of several workflow uuids:"
        " abcd0000-0000-4000-8000-000000000000,"
        " abcd1111-0000-4000-8000-000000000000; give more of the uuid",
    )
    with pytest.raises(WorkflowNotFoundError, match="No workflow with uuid '0'"):
        resolve_uuid("0", store)
    with pytest.raises(WorkflowNotFoundError, match="nor the start of one"):
        resolve_uuid("abc%", store)


def test_an_ambiguous_prefix_lists_ten_candidates(store):
    objectless(
        store,
        *(f"abcd00{index:02d}-0000-4000-8000-000000000000" for index in range(12)),
    )
    with pytest.raises(AmbiguousUuidError) as raised:
        resolve_uuid("abcd00", store)
    assert len(raised.value.candidates) == 10
    assert str(raised.value).endswith(
        "abcd0009-0000-4000-8000-000000000000, ...; give more of the uuid"
    )


def test_upper_case_uuids_are_accepted(store):
    uuid = start(REVIEW, items({"review": True}), store).uuid
    assert get_workflow(uuid.upper(), store).uuid == uuid
    assert [obj.position for obj in list_objects(uuid.upper(), store)] == [0]
    assert resume(uuid.upper(), store).status is WorkflowStatus.COMPLETED


# -- objects ----------------------------------------------------------------------


def test_count_list_and_get_objects(store):
    uuid = start(REVIEW, items({}, {}, {"review": True}, {}, {}), store).uuid
    assert count_objects(uuid, store) == {
        ObjectStatus.INITIAL: 2,
        ObjectStatus.COMPLETED: 2,
        ObjectStatus.HALTED: 1,
        ObjectStatus.RUNNING: 0,
        ObjectStatus.ERROR: 0,
    }
    assert [o.position for o in list_objects(uuid, store, limit=2)] == [0, 1]
    assert [o.position for o in list_objects(uuid, store, limit=2, offset=3)] == [3, 4]
    assert [o.position for o in list_objects(uuid, store, status="initial")] == [3, 4]
    assert [
        o.position for o in list_objects(uuid, store, status=ObjectStatus.HALTED)
    ] == [2]
    halted = get_object(uuid, 2, store)
    assert (halted.status, halted.halt_message, halted.halt_payload) == (
        ObjectStatus.HALTED,
        "",
        None,
    )
    with pytest.raises(WorkflowAPIError) as raised:
        get_object(uuid, 5, store)
    assert str(raised.value) == (
        f"Workflow {uuid} has no object at position 5: it has positions 0 to 4"
    )
    with pytest.raises(WorkflowAPIError, match="Unknown object status 'DONE'"):
        list_objects(uuid, store, status="DONE")
    for call in (count_objects, lambda uuid, store: get_object(uuid, 0, store)):
        with pytest.raises(WorkflowNotFoundError):
            call("8d7f6e5d-0000-4000-8000-000000000000", store)


def test_list_workflows_by_name_time_and_number(store):
    old = start(REVIEW, items({}), store).uuid
    middle = start("tests.storage.wfdefs:FAILING", items({}), store).uuid
    new = start(REVIEW, items({}), store).uuid
    set_workflow(store, old, modified=LONG_AGO)

    def listed(**filters):
        return [info.uuid for info in list_workflows(store, **filters)]

    assert listed(name="REVIEW") == [old, new]
    assert listed(name="_") == []
    assert listed(since=LONG_AGO + datetime.timedelta(seconds=1)) == [middle, new]
    assert listed(since=LONG_AGO) == [old, middle, new]
    assert listed(before=LONG_AGO + datetime.timedelta(days=1)) == [old]
    assert listed(limit=2) == [middle, new]
    assert listed(limit=1, name="REVIEW") == [new]
    with pytest.raises(WorkflowAPIError, match="limit must be 0 or more, got -1"):
        list_workflows(store, limit=-1)


# -- deleting ---------------------------------------------------------------------


def object_count(store):
    with store.session() as session:
        return session.execute(select(func.count()).select_from(ObjectRecord)).scalar()


def test_delete_workflow_deletes_its_objects(store):
    uuid = start(REVIEW, items({}, {"review": True}), store).uuid
    kept = start(REVIEW, items({}), store).uuid
    assert delete_workflow(uuid.upper(), store).uuid == uuid
    assert [info.uuid for info in list_workflows(store)] == [kept]
    assert object_count(store) == 1
    with pytest.raises(WorkflowNotFoundError):
        delete_workflow(uuid, store)


def test_delete_workflow_refuses_a_running_one_unless_forced(store):
    uuid = start(REVIEW, items({}, {"review": True}), store).uuid
    set_workflow(store, uuid, status=WorkflowStatus.RUNNING.value)
    with pytest.raises(WorkflowBusyError) as raised:
        delete_workflow(uuid, store)
    assert raised.value.uuid == uuid
    assert (len(list_workflows(store)), object_count(store)) == (1, 2)
    delete_workflow(uuid, store, force=True)
    assert (list_workflows(store), object_count(store)) == ([], 0)


def test_prune_workflows_of_one_status_saved_before_a_moment(store):
    old = start(REVIEW, items({}), store).uuid
    recent = start(REVIEW, items({}), store).uuid
    old_halted = start(REVIEW, items({"review": True}), store).uuid
    for uuid in (old, old_halted):
        set_workflow(store, uuid, modified=LONG_AGO)
    cutoff = LONG_AGO + datetime.timedelta(days=1)
    assert prune_workflows(store, status="completed", before=cutoff) == [old]
    assert prune_workflows(store, status=WorkflowStatus.COMPLETED, before=cutoff) == []
    assert [info.uuid for info in list_workflows(store)] == [recent, old_halted]
    assert object_count(store) == 2
    with pytest.raises(WorkflowAPIError, match="Unknown workflow status 'old'"):
        prune_workflows(store, status="old", before=cutoff)


# -- an interrupted run -----------------------------------------------------------


def test_release_interrupted_lets_a_plain_resume_go_on(store):
    eng = StoredWorkflowEngine.with_name(
        INTERRUPTING, store, data=items({}, {}, {"interrupt": True}, {})
    )
    uuid = eng.db_obj.uuid
    with pytest.raises(KeyboardInterrupt):
        run_engine(eng, lambda: eng.process())
    assert get_workflow(uuid, store).status is WorkflowStatus.RUNNING
    assert release_interrupted(eng) == 2
    assert release_interrupted(eng) is None  # no longer RUNNING: left alone
    objects = list_objects(uuid, store)
    assert [obj.status for obj in objects] == [
        ObjectStatus.COMPLETED,
        ObjectStatus.COMPLETED,
        ObjectStatus.HALTED,
        ObjectStatus.INITIAL,
    ]
    assert (objects[2].halt_message, objects[2].callback_pos) == (
        "Interrupted; a resume runs this object again from task [0]",
        [0],
    )
    assert get_workflow(uuid, store).status is WorkflowStatus.HALTED
    result = resume(uuid, store)
    assert result.status is WorkflowStatus.COMPLETED
    # No object ran twice: the interrupted one's first run was never saved.
    assert [obj.data["count"] for obj in list_objects(uuid, store)] == [1, 1, 1, 1]
    assert all(obj.data["done"] for obj in list_objects(uuid, store))


def test_release_interrupted_between_two_objects(store):
    result = start(REVIEW, items({}, {}, {}), store)
    eng = StoredWorkflowEngine.from_uuid(result.uuid, store)
    # As a run interrupted just after object 1 completed, before object 2.
    set_workflow(
        store,
        result.uuid,
        status=WorkflowStatus.RUNNING.value,
        token_pos=1,
        callback_pos=[2],
    )
    with store.engine.begin() as connection:
        connection.execute(
            update(ObjectRecord)
            .where(
                ObjectRecord.workflow_uuid == result.uuid, ObjectRecord.position == 2
            )
            .values(status=ObjectStatus.INITIAL.value)
        )
    assert release_interrupted(eng) == 2
    assert [obj.status for obj in list_objects(result.uuid, store)] == [
        ObjectStatus.COMPLETED,
        ObjectStatus.COMPLETED,
        ObjectStatus.HALTED,
    ]
    assert resume(result.uuid, store).status is WorkflowStatus.COMPLETED
    assert [obj.data["count"] for obj in list_objects(result.uuid, store)] == [1, 1, 2]


def test_release_interrupted_after_the_last_object_completes_it(store):
    result = start(REVIEW, items({}, {}), store)
    eng = StoredWorkflowEngine.from_uuid(result.uuid, store)
    set_workflow(store, result.uuid, status=WorkflowStatus.RUNNING.value)
    assert release_interrupted(eng) is None
    assert get_workflow(result.uuid, store).status is WorkflowStatus.COMPLETED


def test_release_interrupted_of_a_halt_not_yet_saved_on_the_workflow(store):
    result = start(REVIEW, items({}, {"review": True}), store)
    eng = StoredWorkflowEngine.from_uuid(result.uuid, store)
    set_workflow(store, result.uuid, status=WorkflowStatus.RUNNING.value)
    assert release_interrupted(eng) == 1
    assert get_workflow(result.uuid, store).status is WorkflowStatus.HALTED
    assert resume(result.uuid, store).status is WorkflowStatus.COMPLETED
    assert [obj.data["count"] for obj in list_objects(result.uuid, store)] == [1, 1]


def test_release_interrupted_leaves_a_workflow_taken_over(store):
    result = start(REVIEW, items({}, {"review": True}), store)
    eng = StoredWorkflowEngine.from_uuid(result.uuid, store)
    set_workflow(
        store,
        result.uuid,
        status=WorkflowStatus.RUNNING.value,
        version=eng.db_obj.version + 1,
    )
    assert release_interrupted(eng) is None
    assert get_workflow(result.uuid, store).status is WorkflowStatus.RUNNING
