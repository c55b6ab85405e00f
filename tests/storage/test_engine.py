"""StoredWorkflowEngine itself: loading, claiming, fencing, and what it writes."""

from __future__ import annotations

import datetime
import re
import uuid as uuid_module

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from workflow.engine import ProcessingFactory
from workflow.engine_db import ObjectStatus, WorkflowStatus
from workflow.errors import HaltProcessing, WorkflowAPIError
from workflow.storage import (
    MAX_DEPTH,
    ObjectRecord,
    StoredWorkflow,
    StoredWorkflowEngine,
    UnserializableDataError,
    WorkflowBusyError,
    WorkflowNotFoundError,
    WorkflowRecord,
    WorkflowStore,
    get_workflow,
    list_objects,
    registry,
    resume,
    start,
)
from workflow.storage.engine import StoredProcessingFactory
from workflow.utils import classproperty

from . import wfdefs

REVIEW = "tests.storage.wfdefs:REVIEW"
KEEP = "tests.storage.wfdefs:KEEP"


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
    saves = []
    event.listen(store.engine, "commit", lambda connection: commits.append(1))
    event.listen(
        store.engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *args: (
            saves.append(statement)
            if statement.startswith("WITH w AS (UPDATE workflow_workflow")
            else None
        ),
    )
    eng.process()
    # the claim (which saves the workflow RUNNING), one per object start
    # (each carrying the previous object's completion), and the final
    # COMPLETED save. On PostgreSQL, each save after the claim is one
    # statement in autocommit: its own transaction.
    if store.engine.dialect.name == "postgresql":
        assert (len(commits), len(saves)) == (1, 5 + 1)
    else:
        assert (len(commits), len(saves)) == (1 + 5 + 1, 0)


@pytest.mark.postgresql
def test_on_postgresql_an_object_boundary_is_one_round_trip(postgresql_url):
    with WorkflowStore(postgresql_url) as store:
        eng = StoredWorkflowEngine.with_name(
            REVIEW, store, data=[{"id": i} for i in range(4)]
        )
        sent = []

        def record(conn, cursor, statement, *args):
            sent.append(
                (statement.split()[0], conn.connection.dbapi_connection.autocommit)
            )

        event.listen(store.engine, "before_cursor_execute", record)
        event.listen(store.engine, "commit", lambda conn: sent.append(("COMMIT", None)))
        eng.process()
    # The claim's transaction (lock, reads, claim, history, commit), the
    # batch of objects read in it; then one statement per save, sent with
    # no BEGIN or COMMIT of its own (the driver is in autocommit).
    claim_end = sent.index(("COMMIT", None))
    assert sent[claim_end + 1 :] == [("WITH", True)] * (4 + 1)
    assert get_workflow(eng.uuid, store).status is WorkflowStatus.COMPLETED


def object_updates_in(statements):
    """The updates of objects sent, alone or within a save's one statement."""
    return [
        update
        for statement in statements
        for update in re.findall(r"UPDATE workflow_object SET [^)]*", statement)
    ]


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
    object_updates = object_updates_in(statements)
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
    data_updates = [s for s in object_updates_in(statements) if " data=" in s]
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


def halt_when_run_again(obj, eng):
    if obj.data["id"] != 1 and obj.data["count"] > 1:
        eng.halt("ran again")


@pytest.mark.parametrize(
    ("method", "offset", "workflow_status", "datas", "expected_statuses"),
    [
        # Object 1 is left completed as it was at the jump; object 2 is
        # jumped over.
        (
            "jumpTokenForward",
            2,
            WorkflowStatus.COMPLETED,
            [
                {"id": 0, "count": 1, "done": True},
                {"id": 1, "count": 1},
                {"id": 2},
                {"id": 3, "count": 1, "done": True},
            ],
            [C, C, N, C],
        ),
        # A jump of 0 runs object 1 again.
        (
            "jumpTokenForward",
            0,
            WorkflowStatus.COMPLETED,
            [{"id": i, "count": 1 + (i == 1), "done": True} for i in range(4)],
            [C, C, C, C],
        ),
        (
            "jumpTokenBack",
            0,
            WorkflowStatus.COMPLETED,
            [{"id": i, "count": 1 + (i == 1), "done": True} for i in range(4)],
            [C, C, C, C],
        ),
        # A jump of -1 goes on with object 0 again, which halts there: object
        # 1 is left completed as it was at the jump.
        (
            "jumpTokenBack",
            -1,
            WorkflowStatus.HALTED,
            [{"id": 0, "count": 2, "done": True}, {"id": 1, "count": 1}]
            + [{"id": 2}, {"id": 3}],
            [H, C, N, N],
        ),
    ],
)
def test_a_deprecated_directional_jump_saves_the_object_completed_and_jumps(
    store, method, offset, workflow_status, datas, expected_statuses
):
    name = f"directional-{uuid_module.uuid4()}"

    def jump_once(obj, eng):
        if obj.data["id"] == 1 and obj.data["count"] == 1:
            getattr(eng, method)(offset)

    registry.register(
        name, [wfdefs.bump, jump_once, halt_when_run_again, wfdefs.finish]
    )
    with pytest.warns(DeprecationWarning):
        result = start(name, [{"id": i} for i in range(4)], store)
    assert result.status is workflow_status
    objects = list_objects(result.uuid, store)
    assert [info.data for info in objects] == datas
    assert [info.status for info in objects] == expected_statuses


def test_a_restart_called_by_a_task_runs_under_the_claim_of_the_outer_run(store):
    name = f"inner-restart-{uuid_module.uuid4()}"

    def restart_once(obj, eng):
        obj.data.setdefault("log", []).append("r")
        if obj.data["id"] == 1 and obj.data["log"].count("r") == 1:
            eng.restart("current", "first")

    registry.register(name, [wfdefs.note("a"), restart_once, wfdefs.note("c")])
    eng = StoredWorkflowEngine.with_name(
        name, store, data=[{"id": i} for i in range(3)]
    )
    eng.process()
    assert [
        (info.status, info.data["log"]) for info in list_objects(eng.uuid, store)
    ] == [
        (C, ["a", "r", "c"]),
        (C, ["a", "r", "a", "r", "c"]),
        (C, ["a", "r", "c"]),
    ]
    with store.session() as session:
        record = session.get(WorkflowRecord, eng.uuid)
        # Claimed once (version 0 to 1): the task's restart claimed nothing.
        assert (record.status, record.version) == (WorkflowStatus.COMPLETED.value, 1)


def test_process_runs_a_copy_of_its_own_object_list(store):
    eng = StoredWorkflowEngine.with_name(REVIEW, store, data=[{"id": 0}, {"id": 1}])
    eng.process(list(eng.database_objects))
    assert eng.status is WorkflowStatus.COMPLETED
    assert [info.data for info in list_objects(eng.uuid, store)] == [
        {"id": 0, "count": 1, "done": True},
        {"id": 1, "count": 1, "done": True},
    ]


def test_process_refuses_its_own_objects_in_another_order(store):
    eng = StoredWorkflowEngine.with_name(REVIEW, store, data=[{"id": 0}, {"id": 1}])
    with pytest.raises(WorkflowAPIError) as raised:
        eng.process(list(reversed(eng.database_objects)))
    assert str(raised.value) == (
        "A stored workflow processes its own objects: call process() with no"
        " objects (add new ones with add_objects() first)"
    )
    assert [info.status for info in list_objects(eng.uuid, store)] == [N, N]


class Opaque:
    def __repr__(self):
        return "<Opaque 7>"


def test_a_halt_payload_json_cannot_hold_is_saved_as_its_repr(store):
    name = f"opaque-payload-{uuid_module.uuid4()}"
    payload = {"when": Opaque()}

    def ask(obj, eng):
        eng.halt("look", action="approve", payload=payload)

    registry.register(name, [ask])
    eng = StoredWorkflowEngine.with_name(name, store, data=[7])
    with pytest.raises(HaltProcessing) as raised:
        eng.process()
    # The caller still gets the payload itself; only the stored copy is text.
    assert raised.value.payload is payload
    assert eng.database_objects[0].halt_payload == "{'when': <Opaque 7>}"
    with store.session() as session:
        record = session.scalars(select(ObjectRecord)).one()
        assert (
            record.status,
            record.halt_message,
            record.halt_action,
            record.halt_payload,
        ) == (ObjectStatus.HALTED.value, "look", "approve", "{'when': <Opaque 7>}")


def test_an_object_saved_outside_a_run_keeps_its_status_and_task_position(store):
    halted = start(REVIEW, [{"id": 0, "review": True}, {"id": 1}], store)
    eng = StoredWorkflowEngine.from_uuid(halted.uuid, store)
    waiting = eng.database_objects[1]
    waiting.data = {"id": 1, "note": "checked by hand"}
    waiting.serialize()
    waiting.save()
    assert (waiting.status, waiting.callback_pos) == (N, [0])
    info = list_objects(halted.uuid, store)[1]
    assert (info.status, info.callback_pos, info.data) == (
        N,
        [0],
        {"id": 1, "note": "checked by hand"},
    )
    loaded = StoredWorkflowEngine.from_uuid(halted.uuid, store)
    assert (loaded.status, loaded.state.token_pos, loaded.state.callback_pos) == (
        WorkflowStatus.HALTED,
        0,
        [1, 1, 0],
    )


def test_a_workflow_saved_outside_a_run_keeps_its_status_and_writes_extra_data(
    store,
):
    halted = start(REVIEW, [{"id": 0, "review": True}], store)
    eng = StoredWorkflowEngine.from_uuid(halted.uuid, store)
    eng.extra_data["reviewer"] = "ann"
    eng.save()
    with store.session() as session:
        record = session.get(WorkflowRecord, halted.uuid)
        assert (
            record.status,
            record.extra_data,
            record.token_pos,
            record.callback_pos,
            record.version,
        ) == (WorkflowStatus.HALTED.value, {"reviewer": "ann"}, 0, [1, 1, 0], 1)


def test_a_stored_workflow_without_an_engine_refuses_to_save(store):
    db_obj = StoredWorkflow(store, "u-1", REVIEW, WorkflowStatus.NEW, "", 0, "{}")
    with pytest.raises(WorkflowAPIError) as raised:
        db_obj.save(WorkflowStatus.RUNNING)
    assert str(raised.value) == (
        "StoredWorkflow u-1 has no engine: build it through"
        " StoredWorkflowEngine.with_name() or from_uuid()"
    )
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(WorkflowRecord)) == 0


def test_a_stored_object_repr_names_it_and_cuts_its_data(store):
    eng = StoredWorkflowEngine.with_name(REVIEW, store, data=["x" * 100])
    obj = eng.database_objects[0]
    assert repr(obj) == (
        f"<StoredObject {obj.id} position=0 status=INITIAL data='{'x' * 59}>"
    )


def test_a_stored_workflow_repr_names_it(store):
    eng = StoredWorkflowEngine.with_name(REVIEW, store)
    assert repr(eng.db_obj) == f"<StoredWorkflow {eng.uuid} {REVIEW!r} NEW>"


class FactoryWithoutFinalSave(StoredProcessingFactory):
    """Ends a run without saving the workflow (as a custom factory may)."""

    @staticmethod
    def after_processing(eng, objects):
        ProcessingFactory.after_processing(eng, objects)


class EngineWithoutFinalSave(StoredWorkflowEngine):
    @classproperty
    def processing_factory(cls):
        return FactoryWithoutFinalSave


def test_a_completion_still_staged_when_a_run_ends_is_committed(store):
    eng = EngineWithoutFinalSave.with_name(REVIEW, store, data=[{"id": 0}, {"id": 1}])
    eng.process()
    assert [(info.status, info.data) for info in list_objects(eng.uuid, store)] == [
        (C, {"id": 0, "count": 1, "done": True}),
        (C, {"id": 1, "count": 1, "done": True}),
    ]


@pytest.mark.parametrize(
    ("failing_commit", "status_after"),
    [
        # The claim: nothing was written, the workflow is still HALTED.
        (0, WorkflowStatus.HALTED),
        # The save of the second object's start (carrying the first one's
        # completion): the run is released at the object it was at, which
        # a plain resume runs again.
        (2, WorkflowStatus.HALTED),
    ],
)
def test_a_rollback_that_fails_too_invalidates_the_connection(
    store, monkeypatch, failing_commit, status_after
):
    halted = start(REVIEW, [{"id": 0, "review": True}, {"id": 1}], store)
    eng = StoredWorkflowEngine.from_uuid(halted.uuid, store)
    commits, failures, invalidated = [], [], []

    def fail_one_commit(connection, *args):
        if args and not args[1].startswith("WITH w AS"):
            return
        # A commit, or on PostgreSQL a save's one statement in autocommit.
        commits.append(connection)
        if len(commits) == failing_commit + 1:
            failures.append(OperationalError("commit", None, Exception("disk")))
            raise failures[0]

    def broken_rollback(connection):
        raise OperationalError("rollback", None, Exception("connection lost"))

    event.listen(store.engine, "commit", fail_one_commit)
    event.listen(store.engine, "before_cursor_execute", fail_one_commit)
    event.listen(
        store.engine,
        "invalidate",
        lambda dbapi_connection, record, exc: invalidated.append(exc),
    )
    monkeypatch.setattr(Connection, "rollback", broken_rollback)
    with pytest.raises(OperationalError) as raised:
        eng.resume()
    monkeypatch.undo()
    # The caller gets the commit's failure, not the rollback's; the broken
    # connection is dropped from the pool.
    assert raised.value is failures[0]
    assert invalidated == [None]
    assert StoredWorkflowEngine.from_uuid(halted.uuid, store).status is status_after
    assert [info.status for info in list_objects(halted.uuid, store)] == [H, N]
    result = resume(halted.uuid, store)
    assert result.status is WorkflowStatus.COMPLETED
    assert [info.data for info in list_objects(halted.uuid, store)] == [
        {"id": 0, "review": True, "count": 1, "done": True},
        {"id": 1, "count": 1, "done": True},
    ]


@pytest.mark.parametrize(
    ("method", "offset", "refusal"),
    [
        (
            "jumpTokenForward",
            -1,
            "JumpTokenForward cannot jump backwards (offset -1);"
            " use jump_token() with a negative offset",
        ),
        (
            "jumpTokenBack",
            1,
            "JumpTokenBack cannot jump forwards (offset 1);"
            " use jump_token() with a positive offset",
        ),
    ],
    ids=["forward", "back"],
)
def test_a_deprecated_jump_in_the_wrong_direction_fails_the_object(
    store, method, offset, refusal
):
    name = f"wrong-jump-{uuid_module.uuid4()}"

    def jump_wrongly(obj, eng):
        if obj.data == 1:
            getattr(eng, method)(offset)

    registry.register(name, [jump_wrongly])
    with pytest.warns(DeprecationWarning):
        result = start(name, [0, 1, 2], store)
    shown = f"WorkflowError({refusal}, id_workflow=None, id_object=None, payload=None)"
    assert (result.status, result.error) == (
        WorkflowStatus.ERROR,
        f"WorkflowError: {refusal}",
    )
    with store.session() as session:
        record = session.get(WorkflowRecord, result.uuid)
        assert (record.status, record.token_pos, record.callback_pos) == (
            WorkflowStatus.ERROR.value,
            1,
            [0],
        )
        assert [(row.status, row.callback_pos) for row in record.objects] == [
            (C.value, [0]),
            (ObjectStatus.ERROR.value, [0]),
            (N.value, [0]),
        ]
        # The traceback saved with the object ends with the refusal.
        assert record.objects[1].error_message.splitlines()[-1] == (
            f"workflow.errors.WorkflowError: {shown}"
        )


def test_a_workflow_failed_by_a_wrong_direction_jump_resumes_after_the_jump(store):
    name = f"wrong-jump-resume-{uuid_module.uuid4()}"

    def jump_back_once(obj, eng):
        obj.data["runs"] = obj.data.get("runs", 0) + 1
        if obj.data["id"] == 1 and obj.data["runs"] == 1:
            eng.jumpTokenForward(-1)

    registry.register(name, [jump_back_once, wfdefs.finish])
    with pytest.warns(DeprecationWarning):
        failed = start(name, [{"id": i} for i in range(3)], store)
    result = resume(failed.uuid, store)
    assert result.status is WorkflowStatus.COMPLETED
    assert [(info.status, info.data) for info in list_objects(failed.uuid, store)] == [
        (C, {"id": 0, "runs": 1, "done": True}),
        (C, {"id": 1, "runs": 1, "done": True}),
        (C, {"id": 2, "runs": 1, "done": True}),
    ]


def test_an_object_saved_outside_a_run_writes_its_changed_data(store):
    done = start(KEEP, [{"id": 0}, {"id": 1}], store)
    eng = StoredWorkflowEngine.from_uuid(done.uuid, store)
    eng.database_objects[1].data = {"id": 1, "note": "x"}
    eng.database_objects[1].save()
    with store.session() as session:
        assert [
            (row.position, row.data)
            for row in session.scalars(select(ObjectRecord).order_by("position"))
        ] == [(0, {"id": 0}), (1, {"id": 1, "note": "x"})]


def test_an_object_saved_outside_a_run_with_unstorable_data_writes_nothing(store):
    done = start(KEEP, [{"id": 0}], store)
    eng = StoredWorkflowEngine.from_uuid(done.uuid, store)
    obj = eng.database_objects[0]
    obj.data = {"id": 0, "tags": {"a"}}
    with pytest.raises(UnserializableDataError) as raised:
        obj.save(status=ObjectStatus.HALTED)
    assert str(raised.value) == (
        "Cannot store object 0 data['tags'] is set {'a'}: workflow data must be"
        " JSON values (dict with string keys, list, str, int, float, bool, None);"
        " convert it before handing it over"
    )
    with store.session() as session:
        row = session.scalars(select(ObjectRecord)).one()
        assert (row.status, row.data) == (C.value, {"id": 0})


def stored_rows(store):
    with store.session() as session:
        return (
            session.scalars(select(WorkflowRecord)).all(),
            session.scalars(select(ObjectRecord)).all(),
        )


def contains_itself_in_a_list():
    value = [1]
    value.append(value)
    return [value]


def contains_itself_in_a_dict():
    value = {"id": 1}
    value["me"] = value
    return [{"id": 0}, value]


def contains_itself_further_down():
    value = {"items": [1]}
    value["items"].append([value])
    return [value]


@pytest.mark.parametrize(
    ("make_data", "path", "itself"),
    [
        (contains_itself_in_a_list, "data[0][1]", "data[0]"),
        (contains_itself_in_a_dict, "data[1]['me']", "data[1]"),
        (contains_itself_further_down, "data[0]['items'][1][0]", "data[0]"),
    ],
    ids=["list", "dict", "further-down"],
)
def test_data_that_contains_itself_is_refused_naming_where(
    store, make_data, path, itself
):
    with pytest.raises(UnserializableDataError) as raised:
        StoredWorkflowEngine.with_name(KEEP, store, data=make_data())
    assert (str(raised.value), raised.value.path) == (
        f"Cannot store {path}: it is {itself} itself (the value contains itself),"
        " which JSON cannot hold; break the cycle before handing it over",
        path,
    )
    assert stored_rows(store) == ([], [])


def test_data_nested_too_deeply_is_refused_naming_where(store):
    deep = []
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(UnserializableDataError) as raised:
        StoredWorkflowEngine.with_name(KEEP, store, data=[{"id": 0}, deep])
    path = "data[1]" + "[0]" * MAX_DEPTH
    assert (str(raised.value), raised.value.path) == (
        f"Cannot store data[1]: {path} is nested more than {MAX_DEPTH} lists and"
        " dicts deep, the most the storage keeps; flatten it before handing it"
        " over",
        path,
    )
    assert stored_rows(store) == ([], [])


JSON_ADVICE = (
    ": workflow data must be JSON values (dict with string keys, list, str, int,"
    " float, bool, None); convert it before handing it over"
)


@pytest.mark.parametrize(
    ("data", "path", "key"),
    [
        ([{1: "int", "1": "str"}], "data[0]", "1 (int)"),
        ([{"id": 0}, {"a": 1, None: 1}], "data[1]", "None (NoneType)"),
        ([{"a": {True: 2}}], "data[0]['a']", "True (bool)"),
        ([[{float("nan"): 1}]], "data[0][0]", "nan (float)"),
    ],
    ids=["int", "none", "bool", "nan"],
)
def test_a_dict_key_that_is_not_a_string_is_refused_naming_it(store, data, path, key):
    with pytest.raises(UnserializableDataError) as raised:
        StoredWorkflowEngine.with_name(KEEP, store, data=data)
    assert (str(raised.value), raised.value.path) == (
        f"Cannot store {path} has the key {key}, which is not a string{JSON_ADVICE}",
        path,
    )
    assert stored_rows(store) == ([], [])


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        (
            {"data": [{"id": 0}, {"a": {"when": datetime.date(2024, 1, 2)}}]},
            "data[1]['a']['when']",
        ),
        ({"extra_data": {"x": [1, datetime.date(2024, 1, 2)]}}, "extra_data['x'][1]"),
    ],
    ids=["data", "extra_data"],
)
def test_the_path_of_an_unserializable_value_names_the_value_itself(
    store, kwargs, path
):
    with pytest.raises(UnserializableDataError) as raised:
        StoredWorkflowEngine.with_name(KEEP, store, **kwargs)
    assert (str(raised.value), raised.value.path) == (
        f"Cannot store {path} is date datetime.date(2024, 1, 2){JSON_ADVICE}",
        path,
    )
    assert stored_rows(store) == ([], [])


def test_a_halt_payload_that_contains_itself_is_saved_as_its_repr(store):
    name = f"cyclic-payload-{uuid_module.uuid4()}"

    def ask(obj, eng):
        payload = [1]
        payload.append(payload)
        eng.halt("look", payload=payload)

    registry.register(name, [ask])
    result = start(name, [7], store)
    assert (result.status, result.halted_message) == (WorkflowStatus.HALTED, "look")
    with store.session() as session:
        record = session.scalars(select(ObjectRecord)).one()
        assert (record.status, record.halt_message, record.halt_payload) == (
            ObjectStatus.HALTED.value,
            "look",
            "[1, [...]]",
        )
