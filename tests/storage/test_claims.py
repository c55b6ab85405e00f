"""Claims, take-overs, fencing, leases and message ids (issue 15), on both backends.

Each test runs on a real SQLite file and on the suite's real PostgreSQL.
The race of a take-over with a live owner is made deterministic with
SQLAlchemy event hooks: the owner, in a thread, waits at a gate until the
taker's hook lets it commit between two of the taker's reads.
"""

from __future__ import annotations

import datetime
import multiprocessing
import os
import pathlib
import random
import signal
import subprocess
import sys
import threading
import time
import uuid as uuid_module

import pytest
from sqlalchemy import event, select, update

from workflow.engine_db import ObjectStatus, WorkflowStatus
from workflow.errors import HaltProcessing
from workflow.storage import (
    MAX_ACTION_LENGTH,
    MAX_DEPTH,
    DefinitionChangedError,
    StoredWorkflowEngine,
    UnserializableDataError,
    WorkflowBusyError,
    WorkflowExistsError,
    WorkflowRecord,
    WorkflowStore,
    get_workflow,
    list_objects,
    list_workflows,
    registry,
    restart,
    resume,
    start,
    workflow_history,
)

from . import run_storage, wfdefs

REVIEW = "tests.storage.wfdefs:REVIEW"
FAILING = "tests.storage.wfdefs:FAILING"
CHAOS = "tests.storage.wfdefs:CHAOS"
WAIT = 10


def workflow_row(store, uuid):
    with store.engine.connect() as connection:
        return connection.execute(
            select(WorkflowRecord.__table__).where(WorkflowRecord.uuid == uuid)
        ).one()


def events(store, uuid):
    return [
        (entry.event, entry.position, entry.message_id)
        for entry in workflow_history(uuid, store)
    ]


def set_running(store, uuid, heartbeat, *, claim="other-claim", message_id=None):
    """Make the workflow look RUNNING under another process's claim."""
    with store.engine.begin() as connection:
        connection.execute(
            update(WorkflowRecord)
            .where(WorkflowRecord.uuid == uuid)
            .values(
                status=WorkflowStatus.RUNNING.value,
                heartbeat=heartbeat,
                claim_token=claim,
                message_id=message_id,
                version=WorkflowRecord.version + 1,
            )
        )


def now():
    return datetime.datetime.now(datetime.timezone.utc)


# -- 1. a take-over reads one consistent snapshot; the old owner is fenced ---------


def apply_once(obj, eng):
    obj.data["applied"] = obj.data.get("applied", 0) + 1
    eng.extra_data["count"] = eng.extra_data.get("count", 0) + 1


class Gates:
    """Where the owner's thread waits, and what the taker's hook waits for."""

    def __init__(self, owner):
        self.owner = owner
        self.at_second_object = threading.Event()
        self.release_owner = threading.Event()
        self.owner_committed = threading.Event()
        self.taker_done = threading.Event()

    def gate(self, obj, eng):
        if threading.get_ident() != self.owner[0]:
            return
        if obj.position == 1:
            self.at_second_object.set()
            self.release_owner.wait(WAIT)
        elif obj.position == 2:
            # Only reached once the owner committed object 1's completion.
            self.owner_committed.set()
            self.taker_done.wait(WAIT)


@pytest.mark.parametrize(
    "read",
    [
        # Before the first read of objects, after the workflow row's.
        1,
        # Before the second: on the old code, the read of the object the
        # run is at; on the new one, inside the claim's transaction.
        2,
    ],
)
def test_a_take_over_of_a_live_run_applies_each_object_once_and_loses_no_extra_data(
    store, read
):
    owner = [None]
    gates = Gates(owner)
    name = f"race-{uuid_module.uuid4()}"
    registry.register(name, [apply_once, gates.gate])
    eng = StoredWorkflowEngine.with_name(
        name, store, data=[{"id": i} for i in range(3)]
    )
    failures = []

    def run_owner():
        owner[0] = threading.get_ident()
        try:
            eng.process()
        except Exception as failure:
            failures.append(failure)

    thread = threading.Thread(target=run_owner)
    thread.start()
    assert gates.at_second_object.wait(WAIT)
    object_reads = []

    def let_owner_commit(connection, cursor, statement, *args):
        if (
            threading.get_ident() == owner[0]
            or not statement.startswith("SELECT")
            or "FROM workflow_object" not in statement
        ):
            return
        object_reads.append(statement)
        if len(object_reads) == read:
            gates.release_owner.set()
            # The owner commits now if it can: on the new code it cannot
            # while the claim's transaction holds the workflow.
            gates.owner_committed.wait(2)

    event.listen(store.engine, "before_cursor_execute", let_owner_commit)
    try:
        result = resume(eng.uuid, store, force=True)
    finally:
        event.remove(store.engine, "before_cursor_execute", let_owner_commit)
        gates.release_owner.set()
        gates.taker_done.set()
        thread.join(WAIT)
    assert result.status is WorkflowStatus.COMPLETED
    assert [
        (info.status, info.data.get("applied"))
        for info in list_objects(eng.uuid, store)
    ] == [(ObjectStatus.COMPLETED, 1)] * 3
    assert workflow_row(store, eng.uuid).extra_data == {"count": 3}
    # The owner was cut off at its next write.
    assert [type(failure) for failure in failures] == [WorkflowBusyError]
    assert "was taken over by another process" in str(failures[0])


def test_a_fenced_owner_writes_nothing_after_the_take_over(store):
    name = f"fenced-{uuid_module.uuid4()}"
    taken = []

    def take_over(obj, eng):
        if obj.position == 1 and not taken:
            taken.append(None)
            taken[0] = resume(eng.uuid, store, force=True)
            # The old owner goes on changing its object and extra_data.
            obj.data["stale"] = True
            eng.extra_data["stale"] = True

    registry.register(name, [apply_once, take_over])
    eng = StoredWorkflowEngine.with_name(
        name, store, data=[{"id": i} for i in range(3)]
    )
    with pytest.raises(WorkflowBusyError):
        eng.process()
    assert taken[0].status is WorkflowStatus.COMPLETED
    assert [info.data for info in list_objects(eng.uuid, store)] == [
        {"id": 0, "applied": 1},
        {"id": 1, "applied": 1},
        {"id": 2, "applied": 1},
    ]
    row = workflow_row(store, eng.uuid)
    assert (row.extra_data, row.status) == (
        {"count": 3},
        WorkflowStatus.COMPLETED.value,
    )


# -- liveness: heartbeats and leases ------------------------------------------------


def test_the_heartbeat_is_written_at_the_claim_and_every_object_boundary(store):
    name = f"heartbeat-{uuid_module.uuid4()}"
    seen = []

    def look(obj, eng):
        row = workflow_row(store, eng.uuid)
        seen.append((row.status, row.heartbeat, row.claim_token))

    registry.register(name, [look])
    before = now()
    eng = StoredWorkflowEngine.with_name(name, store, data=[1, 2, 3])
    eng.process()
    statuses, beats, claims = zip(*seen)
    assert statuses == (WorkflowStatus.RUNNING.value,) * 3
    assert before <= beats[0] < beats[1] < beats[2] <= now()
    assert len(set(claims)) == 1
    assert claims[0] == eng.unit_of_work.claim_token
    assert str(uuid_module.UUID(claims[0])) == claims[0]


def test_a_running_workflow_is_refused_without_take_over(store):
    halted = start(REVIEW, [{"id": 0, "review": True}], store)
    beat = now() - datetime.timedelta(hours=1)
    set_running(store, halted.uuid, beat)
    with pytest.raises(WorkflowBusyError) as raised:
        resume(halted.uuid, store)
    expires = beat + store.lease
    assert (raised.value.uuid, raised.value.heartbeat, raised.value.lease_expires) == (
        halted.uuid,
        beat,
        expires,
    )
    assert str(raised.value) == (
        f"Workflow {halted.uuid} is RUNNING in another process (its owner's last"
        f" heartbeat was at {beat:%Y-%m-%d %H:%M:%S} UTC, its lease runs until"
        f" {expires:%Y-%m-%d %H:%M:%S} UTC). If that process died, take the"
        " workflow over with take_over=True once the lease has expired, or with"
        " force=True at once (the other process, if alive, stops at its next"
        " save)"
    )


def test_take_over_refuses_a_live_owner_and_force_takes_it_over(store):
    halted = start(REVIEW, [{"id": 0, "review": True}, {"id": 1}], store)
    beat = now()
    set_running(store, halted.uuid, beat)
    with pytest.raises(WorkflowBusyError) as raised:
        resume(halted.uuid, store, take_over=True)
    expires = beat + store.lease
    assert str(raised.value) == (
        f"Workflow {halted.uuid} is RUNNING and its owner may be alive (its"
        f" owner's last heartbeat was at {beat:%Y-%m-%d %H:%M:%S} UTC, its lease"
        f" runs until {expires:%Y-%m-%d %H:%M:%S} UTC). take_over=True takes over"
        " only a run whose lease has expired: wait until then, or pass"
        " force=True to take it over now (the other process, if alive, stops at"
        " its next save)"
    )
    assert workflow_row(store, halted.uuid).claim_token == "other-claim"
    result = resume(halted.uuid, store, force=True)
    assert result.status is WorkflowStatus.COMPLETED
    [taken] = [
        e for e in workflow_history(halted.uuid, store) if e.event == "taken_over"
    ]
    assert (taken.position, taken.details) == (
        0,
        {
            "as": "resumed",
            "previous": {
                "claim": "other-claim",
                "message_id": None,
                "heartbeat": beat.isoformat(),
            },
        },
    )


def test_take_over_takes_over_an_expired_lease_of_the_stores_length(store_url):
    with WorkflowStore(store_url, lease=datetime.timedelta(seconds=30)) as store:
        halted = start(REVIEW, [{"id": 0, "review": True}, {"id": 1}], store)
        set_running(store, halted.uuid, now() - datetime.timedelta(seconds=31))
        result = resume(halted.uuid, store, take_over=True)
        assert result.status is WorkflowStatus.COMPLETED
        assert [info.data["count"] for info in list_objects(halted.uuid, store)] == [
            1,
            1,
        ]


def test_a_lease_must_be_a_positive_timedelta():
    with pytest.raises(ValueError, match="lease must be a positive datetime"):
        WorkflowStore("sqlite://", lease=datetime.timedelta(0))


def test_take_over_does_not_allow_a_changed_definition_and_force_allows_both(store):
    name = f"changing-{uuid_module.uuid4()}"
    registry.register(name, [wfdefs.bump, wfdefs.halt_once])
    halted = start(name, [{"id": 0}], store)
    registry.register(name, [wfdefs.bump, wfdefs.halt_once, wfdefs.finish])
    with pytest.raises(DefinitionChangedError, match="allow_changed_definition=True"):
        resume(halted.uuid, store, take_over=True)
    result = resume(halted.uuid, store, allow_changed_definition=True)
    assert result.status is WorkflowStatus.COMPLETED


# -- message ids ---------------------------------------------------------------------


INTERRUPT_AT: set[tuple[str, int]] = set()


def interrupt_where_asked(obj, eng):
    """Stand for a worker killed in this object: once, where the test asks."""
    key = (eng.uuid, obj.position)
    if key in INTERRUPT_AT:
        INTERRUPT_AT.discard(key)
        raise KeyboardInterrupt


INTERRUPTIBLE = f"interruptible-{uuid_module.uuid4()}"
registry.register(INTERRUPTIBLE, [wfdefs.bump, interrupt_where_asked, wfdefs.halt_once])


def test_the_claim_records_the_message_id_in_the_row_and_the_history(store):
    uuid = str(uuid_module.uuid4())
    result = start(
        REVIEW, [{"id": 0, "review": True}], store, uuid=uuid, message_id="m-1"
    )
    assert (result.uuid, result.status, result.replayed) == (
        uuid,
        WorkflowStatus.HALTED,
        False,
    )
    assert workflow_row(store, uuid).message_id == "m-1"
    assert events(store, uuid) == [
        ("created", None, "m-1"),
        ("started", None, "m-1"),
        ("halted", 0, "m-1"),
    ]


def test_a_redelivered_start_returns_its_outcome_without_running(store):
    uuid = str(uuid_module.uuid4())
    data = [{"id": 0, "review": True}, {"id": 1}]
    first = start(REVIEW, data, store, uuid=uuid, message_id="m-1")
    again = start(REVIEW, data, store, uuid=uuid, message_id="m-1")
    assert (again.status, again.halted_message, again.replayed) == (
        WorkflowStatus.HALTED,
        first.halted_message,
        True,
    )
    assert [info.data.get("count") for info in list_objects(uuid, store)] == [1, None]
    assert len(events(store, uuid)) == 3


def test_a_start_with_the_uuid_of_another_workflow_is_refused(store):
    uuid = str(uuid_module.uuid4())
    start(REVIEW, [{"id": 0}], store, uuid=uuid, message_id="m-1")
    for message_id in (None, "m-2"):
        with pytest.raises(WorkflowExistsError) as raised:
            start(REVIEW, [{"id": 0}], store, uuid=uuid, message_id=message_id)
        assert (str(raised.value), raised.value.uuid) == (
            f"A workflow with uuid {uuid} is stored already: resume or restart it,"
            " or start the new one with another uuid",
            uuid,
        )
    assert [info.data["count"] for info in list_objects(uuid, store)] == [1]


def test_a_redelivered_resume_does_not_go_past_the_halt_it_produced(store):
    data = [{"id": 0, "review": True}, {"id": 1, "review": True}, {"id": 2}]
    halted = start(REVIEW, data, store)
    first = resume(halted.uuid, store, message_id="r-1")
    again = resume(halted.uuid, store, message_id="r-1")
    assert (first.status, first.replayed) == (WorkflowStatus.HALTED, False)
    assert (again.status, again.halted_message, again.replayed) == (
        WorkflowStatus.HALTED,
        first.halted_message,
        True,
    )
    assert [info.status for info in list_objects(halted.uuid, store)] == [
        ObjectStatus.COMPLETED,
        ObjectStatus.HALTED,
        ObjectStatus.INITIAL,
    ]
    # Another message goes on, past the halt it was sent to review.
    assert resume(halted.uuid, store, message_id="r-2").status is (
        WorkflowStatus.COMPLETED
    )


def test_a_redelivered_resume_does_not_skip_the_error_it_produced(store):
    data = [{"id": 0, "review": True}, {"id": 1, "fail": True}]
    name = f"review-fail-{uuid_module.uuid4()}"
    registry.register(name, [wfdefs.bump, wfdefs.fail_if_asked, *wfdefs.REVIEW[1:]])
    halted = start(name, data, store)
    first = resume(halted.uuid, store, message_id="r-1")
    again = resume(halted.uuid, store, message_id="r-1")
    assert (first.status, first.error) == (
        WorkflowStatus.ERROR,
        "ValueError: bad item 1",
    )
    assert (again.status, again.error, again.replayed) == (
        WorkflowStatus.ERROR,
        "ValueError: bad item 1",
        True,
    )
    assert list_objects(halted.uuid, store)[1].data["count"] == 1


def test_a_redelivered_start_carries_its_interrupted_attempt_on(store):
    uuid = str(uuid_module.uuid4())
    data = [
        {"id": 0, "halted": True},
        {"id": 1, "halted": True},
        {"id": 2, "halted": True},
    ]
    INTERRUPT_AT.add((uuid, 1))
    with pytest.raises(KeyboardInterrupt):
        start(INTERRUPTIBLE, data, store, uuid=uuid, message_id="s-1")
    # The worker died: the workflow is RUNNING under s-1's claim, its lease
    # still running. Another message may not take it over ...
    with pytest.raises(WorkflowBusyError):
        resume(uuid, store, take_over=True, message_id="other")
    # ... the same message, redelivered, carries it on at once.
    result = start(INTERRUPTIBLE, data, store, uuid=uuid, message_id="s-1")
    assert (result.status, result.replayed) == (WorkflowStatus.COMPLETED, False)
    # Object 1's first attempt changed its data in memory only: it is run
    # again from where it started, as if for the first time.
    assert [info.data["count"] for info in list_objects(uuid, store)] == [1, 1, 1]
    taken = [e for e in workflow_history(uuid, store) if e.event == "taken_over"]
    assert [(e.message_id, e.position, e.details["as"]) for e in taken] == [
        ("s-1", 1, "started")
    ]


def test_a_redelivered_restart_carries_on_and_does_not_restart_again(store):
    done = start(INTERRUPTIBLE, [{"id": i, "halted": True} for i in range(3)], store)
    assert done.status is WorkflowStatus.COMPLETED
    INTERRUPT_AT.add((done.uuid, 1))
    with pytest.raises(KeyboardInterrupt):
        restart(done.uuid, store, obj="first", task="first", message_id="rs-1")
    result = restart(done.uuid, store, obj="first", task="first", message_id="rs-1")
    assert result.status is WorkflowStatus.COMPLETED
    # Object 0 ran twice (the start, the restart), not three times.
    assert [info.data["count"] for info in list_objects(done.uuid, store)] == [2, 2, 2]
    again = restart(done.uuid, store, obj="first", task="first", message_id="rs-1")
    assert (again.status, again.replayed) == (WorkflowStatus.COMPLETED, True)
    assert [info.data["count"] for info in list_objects(done.uuid, store)] == [2, 2, 2]


# -- 6. any halt or error is recordable ---------------------------------------------


def test_nul_bytes_are_recorded_escaped_and_the_workflow_resumes(store):
    name = f"nul-{uuid_module.uuid4()}"

    def halt_with_nul(obj, eng):
        if not obj.data.get("halted"):
            obj.data["halted"] = True
            eng.halt("look\x00here", action="re\x00view")

    def fail_with_nul(obj, eng):
        if obj.data.get("fail"):
            obj.data["fail"] = False
            raise ValueError("bad\x00byte")

    registry.register(name, [halt_with_nul, fail_with_nul])
    halted = start(name, [{"id": 0, "fail": True}], store)
    assert (halted.status, halted.halted_message) == (
        WorkflowStatus.HALTED,
        "look\x00here",
    )
    [info] = list_objects(halted.uuid, store)
    assert (info.halt_message, info.halt_action) == ("look\\x00here", "re\\x00view")
    failed = resume(halted.uuid, store)
    assert (failed.status, failed.error) == (
        WorkflowStatus.ERROR,
        "ValueError: bad\\x00byte",
    )
    [info] = list_objects(halted.uuid, store)
    assert info.error_message.endswith("ValueError: bad\\x00byte\n")
    [entry] = [e for e in workflow_history(halted.uuid, store) if e.event == "halted"]
    assert entry.details == {"message": "look\\x00here", "action": "re\\x00view"}
    assert resume(halted.uuid, store).status is WorkflowStatus.COMPLETED


def test_a_halt_with_a_too_long_action_fails_its_task_which_a_resume_runs_again(
    store,
):
    action = ["x" * (MAX_ACTION_LENGTH + 1)]
    name = f"long-action-{uuid_module.uuid4()}"

    def halt_once_with_action(obj, eng):
        obj.data["runs"] = obj.data.get("runs", 0) + 1
        if obj.data["runs"] <= 2:
            eng.halt("look", action=action[0])

    registry.register(name, [wfdefs.bump, halt_once_with_action, wfdefs.finish])
    failed = start(name, [{"id": 0}], store)
    assert (failed.status, failed.error) == (
        WorkflowStatus.ERROR,
        f"ValueError: The halt's action is {MAX_ACTION_LENGTH + 1} characters"
        f" long; the storage keeps actions of at most {MAX_ACTION_LENGTH}: name"
        " the action shortly and put its details in the halt's payload (a resume"
        " runs the halting task again)",
    )
    # Fixed, the halting task runs again and its halt is recorded.
    action[0] = "review"
    halted = resume(failed.uuid, store)
    [info] = list_objects(failed.uuid, store)
    assert (halted.status, info.halt_action, info.data) == (
        WorkflowStatus.HALTED,
        "review",
        {"id": 0, "count": 1, "runs": 2},
    )
    assert resume(failed.uuid, store).status is WorkflowStatus.COMPLETED


# -- 7. a raising receiver leaves the database true -----------------------------------


@pytest.fixture
def raising_receiver():
    from workflow import signals

    connected = []

    def connect(signal_name, uuid_box):
        def receiver(sender, **kwargs):
            if getattr(sender, "uuid", None) == uuid_box[0]:
                raise RuntimeError(f"{signal_name} receiver broke")

        sender_signal = getattr(signals, signal_name)
        sender_signal.connect(receiver)
        connected.append((sender_signal, receiver))

    yield connect
    for sender_signal, receiver in connected:
        sender_signal.disconnect(receiver)


def test_a_raising_workflow_finished_receiver_leaves_the_run_completed(
    store, raising_receiver
):
    eng = StoredWorkflowEngine.with_name(REVIEW, store, data=[{"id": 0}, {"id": 1}])
    raising_receiver("workflow_finished", [eng.uuid])
    with pytest.raises(RuntimeError, match="workflow_finished receiver broke"):
        eng.process()
    assert get_workflow(eng.uuid, store).status is WorkflowStatus.COMPLETED
    assert [info.status for info in list_objects(eng.uuid, store)] == [
        ObjectStatus.COMPLETED
    ] * 2
    assert [e[0] for e in events(store, eng.uuid)] == [
        "created",
        "started",
        "completed",
    ]


def test_a_raising_workflow_started_receiver_leaves_nothing_run_and_resumable(
    store, raising_receiver
):
    eng = StoredWorkflowEngine.with_name(REVIEW, store, data=[{"id": 0}, {"id": 1}])
    uuid_box = [eng.uuid]
    raising_receiver("workflow_started", uuid_box)
    with pytest.raises(RuntimeError, match="workflow_started receiver broke"):
        eng.process()
    assert get_workflow(eng.uuid, store).status is WorkflowStatus.HALTED
    assert [info.status for info in list_objects(eng.uuid, store)] == [
        ObjectStatus.INITIAL
    ] * 2
    [entry] = [e for e in workflow_history(eng.uuid, store) if e.event == "interrupted"]
    assert entry.details == {
        "error": "Stopped by RuntimeError: workflow_started receiver broke",
        "status": "HALTED",
    }
    uuid_box[0] = None
    result = resume(eng.uuid, store)
    assert result.status is WorkflowStatus.COMPLETED
    assert [info.data["count"] for info in list_objects(eng.uuid, store)] == [1, 1]


# -- history of a run ------------------------------------------------------------------


def test_the_history_tells_a_runs_story(store):
    data = [{"id": 0, "review": True}, {"id": 1, "fail": True}]
    name = f"story-{uuid_module.uuid4()}"
    registry.register(name, [wfdefs.bump, wfdefs.fail_if_asked, *wfdefs.REVIEW[1:]])
    halted = start(name, data, store, message_id="m-1")
    resume(halted.uuid, store, message_id="m-2")
    restart(halted.uuid, store, obj="current", task="next", message_id="m-3")
    history = workflow_history(halted.uuid, store)
    assert [(e.event, e.position, e.message_id, e.details) for e in history] == [
        ("created", None, "m-1", None),
        ("started", None, "m-1", None),
        ("halted", 0, "m-1", {"message": "", "action": None}),
        ("resumed", 0, "m-2", None),
        ("error", 1, "m-2", {"error": "ValueError: bad item 1"}),
        ("restarted", 1, "m-3", {"object": "current", "task": "next"}),
        ("completed", None, "m-3", None),
    ]
    assert [e.time for e in history] == sorted(e.time for e in history)


def test_per_object_events_are_an_option_of_the_store(store_url):
    with WorkflowStore(store_url, object_history=True) as store:
        result = start(REVIEW, [{"id": 0}, {"id": 1, "review": True}], store)
        assert [
            (e.event, e.position, e.details)
            for e in workflow_history(result.uuid, store)
        ] == [
            ("created", None, None),
            ("started", None, None),
            ("object_started", 0, None),
            ("object_finished", 0, {"status": "COMPLETED"}),
            ("object_started", 1, None),
            ("halted", 1, {"message": "", "action": None}),
        ]
    with WorkflowStore(store_url) as store:
        plain = start(REVIEW, [{"id": 0}], store)
        assert [e.event for e in workflow_history(plain.uuid, store)] == [
            "created",
            "started",
            "completed",
        ]


# -- 8. several command lines on one fresh database ----------------------------------


def test_several_workflow_run_commands_on_a_fresh_database_all_succeed(
    store_url, tmp_path
):
    # See also test_schema.py's test of several processes calling start().
    data = tmp_path / "data.jsonl"
    data.write_text('{"id": 0}\n{"id": 1}\n')
    root = pathlib.Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "workflow", "run", REVIEW, "--data", str(data)]
    runs = [
        subprocess.Popen(
            [*command, "--db", store_url],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outcomes = [(run.wait(120), *run.communicate()) for run in runs]
    assert [(code, out.splitlines()[-1], err) for code, out, err in outcomes] == [
        (0, "status: COMPLETED", "")
    ] * 4
    with WorkflowStore(store_url) as store:
        assert (
            sorted(info.status.name for info in list_workflows(store))
            == ["COMPLETED"] * 4
        )


# -- 9. the depth of data ----------------------------------------------------------


def nested(depth):
    """A value with ``depth`` lists within each other."""
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def test_data_as_deep_as_allowed_is_stored_and_resumed_in_another_engine(store):
    deep = nested(MAX_DEPTH - 1)
    data = [{"id": 0, "review": True, "deep": deep}, {"id": 1, "deep": deep}]
    eng = StoredWorkflowEngine.with_name(
        REVIEW, store, data=data, extra_data={"deep": deep}
    )
    with pytest.raises(HaltProcessing):
        eng.process()
    result = resume(eng.uuid, store)
    assert result.status is WorkflowStatus.COMPLETED
    assert [info.data["deep"] for info in list_objects(eng.uuid, store)] == [deep] * 2
    assert workflow_row(store, eng.uuid).extra_data == {"deep": deep}
    # Brackets in strings are no nesting.
    assert start(REVIEW, [{"text": "[{" * 1000}], store).status is (
        WorkflowStatus.COMPLETED
    )


def too_deep_message(where, path):
    return (
        f"Cannot store {where}: {path} is nested more than {MAX_DEPTH} lists and"
        " dicts deep, the most the storage keeps; flatten it before handing it"
        " over"
    )


def test_deeper_data_is_refused_naming_its_path_when_handed_over(store):
    deep = nested(MAX_DEPTH)
    inner = "[0]" * (MAX_DEPTH - 1)
    with pytest.raises(UnserializableDataError) as raised:
        start(REVIEW, [{"id": 0}, {"id": 1, "deep": deep}], store)
    path = f"data[1]['deep']{inner}"
    assert (str(raised.value), raised.value.path) == (
        too_deep_message("data[1]", path),
        path,
    )
    with pytest.raises(UnserializableDataError) as raised:
        StoredWorkflowEngine.with_name(REVIEW, store, extra_data={"deep": deep})
    path = f"extra_data['deep']{inner}"
    assert str(raised.value) == too_deep_message("extra_data", path)
    eng = StoredWorkflowEngine.with_name(REVIEW, store, data=[{"id": 0}])
    with pytest.raises(UnserializableDataError) as raised:
        eng.add_objects([{"id": 1}, {"deep": deep}])
    path = f"data[1]['deep']{inner}"
    assert str(raised.value) == too_deep_message("data[1]", path)
    assert len(list_objects(eng.uuid, store)) == 1


def test_a_task_making_data_too_deep_fails_its_object(store):
    name = f"deepening-{uuid_module.uuid4()}"

    def deepen(obj, eng):
        eng.extra_data["deep"] = nested(MAX_DEPTH)

    registry.register(name, [deepen])
    result = start(name, [{"id": 0}], store)
    path = "engine extra_data['deep']" + "[0]" * (MAX_DEPTH - 1)
    assert (result.status, result.error) == (
        WorkflowStatus.ERROR,
        "UnserializableDataError: "
        + too_deep_message("engine extra_data", path).splitlines()[0],
    )
    assert workflow_row(store, result.uuid).extra_data == {}


# -- chaos: random take-overs and kills ------------------------------------------------


@pytest.mark.timeout(180)
def test_random_resumes_restarts_take_overs_and_kills_apply_each_object_once(
    store_url,
):
    chooser = random.Random(15)
    data = [
        {"id": index, "sleep": chooser.uniform(0.4, 0.6), "review": index % 9 == 4}
        for index in range(30)
    ]
    with WorkflowStore(store_url, lease=run_storage.CHAOS_LEASE) as store:
        uuid = StoredWorkflowEngine.with_name(CHAOS, store, data=data).uuid
        context = multiprocessing.get_context("spawn")
        workers: list = []
        seeds = iter(range(1000))

        def spawn():
            ready = context.Event()
            worker = context.Process(
                target=run_storage.chaos_worker,
                args=(store_url, uuid, next(seeds), ready),
            )
            worker.start()
            workers.append((ready, worker))

        def kill(worker):
            os.kill(worker.pid, signal.SIGKILL)
            worker.join(10)

        for _ in range(3):
            spawn()
        for ready, _ in workers:
            assert ready.wait(60)
        # About 15 s of work: still running when the chaos ends.
        deadline = time.monotonic() + 10
        kills = 0
        while time.monotonic() < deadline:
            time.sleep(chooser.uniform(0.3, 0.9))
            working = [entry for entry in workers if entry[0].is_set()]
            if len(working) > 1:
                victim = chooser.choice(working)
                workers.remove(victim)
                kill(victim[1])
                kills += 1
                spawn()
        for _, worker in workers:
            kill(worker)
        assert kills >= 6
        assert get_workflow(uuid, store).status is not WorkflowStatus.COMPLETED
        # Finish what is left: each halt needs a resume asking for it.
        result = resume(uuid, store, force=True)
        while result.status is WorkflowStatus.HALTED:
            result = resume(uuid, store)
        assert result.status is WorkflowStatus.COMPLETED
        objects = list_objects(uuid, store)
        assert [(info.status, info.data["applied"]) for info in objects] == [
            (ObjectStatus.COMPLETED, 1)
        ] * len(data)
        assert workflow_row(store, uuid).extra_data == {"count": len(data)}
        assert [info.data.get("halted", False) for info in objects] == [
            item["review"] for item in data
        ]
        history = workflow_history(uuid, store)
        after_halts = [
            history[index + 1].event
            for index, entry in enumerate(history[:-1])
            if entry.event == "halted"
        ]
        assert len(after_halts) == sum(item["review"] for item in data)
        assert "taken_over" in {entry.event for entry in history}
        assert set(after_halts) <= {"resumed", "restarted"}
