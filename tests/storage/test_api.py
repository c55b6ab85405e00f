"""workflow.storage.api on real SQLite files and a real PostgreSQL."""

from __future__ import annotations

import datetime
import json
import uuid as uuid_module

import pytest
from sqlalchemy import func, select

from workflow.engine_db import ObjectStatus, WorkflowStatus
from workflow.errors import WorkflowAPIError, WorkflowError
from workflow.storage import (
    DefinitionChangedError,
    ObjectRecord,
    UnknownWorkflowError,
    UnserializableDataError,
    WorkflowBusyError,
    WorkflowNotFoundError,
    WorkflowRecord,
    WorkflowResult,
    fingerprint,
    get_workflow,
    list_halted_objects,
    list_objects,
    list_workflows,
    registry,
    restart,
    resume,
    start,
)
from workflow.storage.registry import legacy_fingerprint

from . import wfdefs

REVIEW = "tests.storage.wfdefs:REVIEW"
RESTART = "tests.storage.wfdefs:RESTART"
FAILING = "tests.storage.wfdefs:FAILING"

C, H, N, E = (
    ObjectStatus.COMPLETED,
    ObjectStatus.HALTED,
    ObjectStatus.INITIAL,
    ObjectStatus.ERROR,
)


def items(*flags):
    return [dict({"id": index}, **flag) for index, flag in enumerate(flags)]


def row_counts(store):
    with store.session() as session:
        return (
            session.scalar(select(func.count()).select_from(WorkflowRecord)),
            session.scalar(select(func.count()).select_from(ObjectRecord)),
        )


def statuses(uuid, store):
    return [info.status for info in list_objects(uuid, store)]


def datas(uuid, store):
    return [info.data for info in list_objects(uuid, store)]


# -- start -----------------------------------------------------------------


def test_start_runs_to_completion_and_saves_every_object(store):
    result = start(REVIEW, items({}, {}), store)
    assert result == WorkflowResult(
        result.uuid, REVIEW, WorkflowStatus.COMPLETED, None, None
    )
    assert datas(result.uuid, store) == [
        {"id": 0, "count": 1, "done": True},
        {"id": 1, "count": 1, "done": True},
    ]
    assert statuses(result.uuid, store) == [C, C]


def test_start_stops_at_a_halt_and_saves_its_details(store):
    result = start("tests.storage.wfdefs:RESTART", items({}, {}), store)
    assert (result.status, result.halted_message, result.error) == (
        WorkflowStatus.HALTED,
        "check object 0",
        None,
    )
    first, second = list_objects(result.uuid, store)
    assert (first.status, first.halt_message, first.halt_action) == (
        H,
        "check object 0",
        "review",
    )
    assert first.callback_pos == [1]
    assert first.data == {"id": 0, "log": ["a", "h"], "halted": True}
    assert (second.status, second.data) == (N, {"id": 1})


def test_start_with_stop_on_halt_false_goes_on_past_halts(store):
    result = start(
        REVIEW, items({"review": True}, {}, {"review": True}), store, stop_on_halt=False
    )
    assert (result.status, result.halted_message) == (WorkflowStatus.COMPLETED, None)
    assert statuses(result.uuid, store) == [H, C, H]
    assert [info.position for info in list_halted_objects(store)] == [0, 2]


def test_start_records_an_error_with_its_traceback(store):
    result = start(FAILING, items({}, {"fail": True}, {}), store)
    assert (result.status, result.error, result.halted_message) == (
        WorkflowStatus.ERROR,
        "ValueError: bad item 1",
        None,
    )
    objects = list_objects(result.uuid, store)
    assert [info.status for info in objects] == [C, E, N]
    message = objects[1].error_message
    assert message.startswith("Traceback (most recent call last):\n")
    assert message.endswith("ValueError: bad item 1\nsecond line\n")
    assert "in fail_if_asked" in message
    assert objects[1].callback_pos == [1]
    assert get_workflow(result.uuid, store).error_count == 1


def test_start_with_stop_on_error_false_goes_on_past_errors(store):
    result = start(FAILING, items({"fail": True}, {}), store, stop_on_error=False)
    assert (result.status, result.error) == (WorkflowStatus.COMPLETED, None)
    assert statuses(result.uuid, store) == [E, C]


def test_start_with_no_data_completes(store):
    result = start(REVIEW, [], store)
    assert result.status is WorkflowStatus.COMPLETED
    assert list_objects(result.uuid, store) == []


def test_result_to_dict_is_json_friendly(store):
    result = start(FAILING, items({"fail": True}), store)
    assert result.to_dict() == {
        "uuid": result.uuid,
        "name": FAILING,
        "status": "ERROR",
        "halted_message": None,
        "error": "ValueError: bad item 0",
        "replayed": False,
    }


# -- resume and restart ------------------------------------------------------


def test_resume_goes_on_after_the_halting_task(store):
    halted = start(REVIEW, items({}, {"review": True}, {}), store)
    result = resume(halted.uuid, store)
    assert result == WorkflowResult(
        halted.uuid, REVIEW, WorkflowStatus.COMPLETED, None, None
    )
    assert [data["count"] for data in datas(halted.uuid, store)] == [1, 1, 1]
    assert statuses(halted.uuid, store) == [C, C, C]


def test_resume_clears_the_halt_details_of_the_resumed_object(store):
    halted = start(REVIEW, items({"review": True}), store)
    resume(halted.uuid, store)
    (info,) = list_objects(halted.uuid, store)
    assert (info.halt_message, info.halt_action, info.error_message) == (
        None,
        None,
        None,
    )


def test_resume_after_an_error_goes_on_after_the_failing_task(store):
    failed = start(FAILING, items({"fail": True}, {}), store)
    result = resume(failed.uuid, store)
    assert result.status is WorkflowStatus.COMPLETED
    assert datas(failed.uuid, store) == [
        {"id": 0, "fail": True, "count": 1, "done": True},
        {"id": 1, "count": 1, "done": True},
    ]


def test_resume_of_a_completed_workflow_changes_nothing(store):
    done = start(REVIEW, items({}), store)
    before = get_workflow(done.uuid, store)
    result = resume(done.uuid, store)
    assert result.status is WorkflowStatus.COMPLETED
    assert get_workflow(done.uuid, store) == before
    assert datas(done.uuid, store) == [{"id": 0, "count": 1, "done": True}]


@pytest.mark.parametrize(
    ("obj", "task", "logs", "expected_statuses", "halted_message"),
    [
        (obj, task, logs, [C, H, N], "check object 1")
        for obj in ("prev", "current", "first")
        for task, logs in (
            ("prev", [["a", "h", "a", "h", "c"], ["a", "h"], None]),
            ("first", [["a", "h", "a", "h", "c"], ["a", "h"], None]),
            ("current", [["a", "h", "h", "c"], ["a", "h"], None]),
            ("next", [["a", "h", "c"], ["a", "h"], None]),
        )
    ]
    + [
        ("next", "prev", [["a", "h"], ["a", "h"], None], [H, H, N], "check object 1"),
        ("next", "first", [["a", "h"], ["a", "h"], None], [H, H, N], "check object 1"),
        ("next", "current", [["a", "h"], ["h"], None], [H, H, N], "check object 1"),
        ("next", "next", [["a", "h"], ["c"], ["a", "h"]], [H, C, H], "check object 2"),
    ],
)
def test_restart_moves_from_the_saved_position(
    store, obj, task, logs, expected_statuses, halted_message
):
    halted = start(RESTART, items({}, {}, {}), store)
    result = restart(halted.uuid, store, obj=obj, task=task)
    assert (result.status, result.halted_message) == (
        WorkflowStatus.HALTED,
        halted_message,
    )
    assert [data.get("log") for data in datas(halted.uuid, store)] == logs
    assert statuses(halted.uuid, store) == expected_statuses


def test_restart_defaults_to_the_current_object_from_its_first_task(store):
    halted = start(RESTART, items({}), store)
    result = restart(halted.uuid, store)
    assert result.status is WorkflowStatus.COMPLETED
    assert datas(halted.uuid, store)[0]["log"] == ["a", "h", "a", "h", "c"]


def test_restart_of_a_completed_workflow_from_the_first_object_runs_it_again(store):
    done = start(REVIEW, items({}, {}), store)
    result = restart(done.uuid, store, obj="first", task="first")
    assert result.status is WorkflowStatus.COMPLETED
    assert [data["count"] for data in datas(done.uuid, store)] == [2, 2]


@pytest.mark.parametrize(("obj", "task"), [("here", "first"), ("current", "last")])
def test_restart_with_an_unknown_word_is_refused_before_anything_runs(store, obj, task):
    halted = start(RESTART, items({}), store)
    before = get_workflow(halted.uuid, store)
    with pytest.raises(WorkflowError) as raised:
        restart(halted.uuid, store, obj=obj, task=task)
    bad = obj if obj == "here" else task
    assert repr(bad) in raised.value.message
    assert get_workflow(halted.uuid, store) == before


# -- refusals ------------------------------------------------------------------


def test_start_with_an_unknown_name_writes_nothing(store):
    with pytest.raises(UnknownWorkflowError) as raised:
        start("no-such-definition", items({}), store)
    assert raised.value.name == "no-such-definition"
    assert "No workflow definition is registered under 'no-such-definition'" in str(
        raised.value
    )
    assert row_counts(store) == (0, 0)


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ([{"id": 0}, {"when": datetime.date(2024, 1, 2)}], "data[1]['when'] is date"),
        ([1, 2, float("nan")], "data[2] is nan"),
        ([[1, [object()]]], "data[0][1][0] is object"),
        ([{(1, 2): "tuple key"}], "data[0] has the key (1, 2) (tuple)"),
        ({"id": 0}, "data must be a list"),
        ("abc", "data must be a list"),
    ],
)
def test_start_with_unserializable_data_writes_nothing(store, data, where):
    with pytest.raises(UnserializableDataError) as raised:
        start(REVIEW, data, store)
    assert where in str(raised.value)
    assert row_counts(store) == (0, 0)


UNSTORABLE_ADVICE = (
    ": workflow data must be JSON values (dict with string keys, list, str, int,"
    " float, bool, None); convert it before handing it over"
)


@pytest.mark.parametrize(
    ("data", "found"),
    [
        # Finite floats, lists and dicts that can be stored are looked through.
        ([[0.5, float("inf")]], "data[0][1] is inf, which JSON cannot hold"),
        ([{"ok": [1, 2], "tags": {3}}], "data[0]['tags'] is set {3}"),
        (
            [{"nested": {"ok": 1}, "x": -float("inf")}],
            "data[0]['x'] is -inf, which JSON cannot hold",
        ),
        ([{"id": 0}, (1, object)], "data[1][1] is type <class 'object'>"),
        # The value's repr is cut at 60 characters.
        ([{"blob": b"x" * 100}], "data[0]['blob'] is bytes b'" + "x" * 58),
    ],
)
def test_unserializable_data_is_named_by_its_path(store, data, found):
    with pytest.raises(UnserializableDataError) as raised:
        start(REVIEW, data, store)
    assert str(raised.value) == f"Cannot store {found}{UNSTORABLE_ADVICE}"
    assert row_counts(store) == (0, 0)


@pytest.mark.parametrize("call", [resume, restart, get_workflow, list_objects])
def test_an_unknown_uuid_raises_not_found_and_writes_nothing(store, call):
    missing = str(uuid_module.uuid4())
    with pytest.raises(WorkflowNotFoundError) as raised:
        call(missing, store)
    assert raised.value.uuid == missing
    assert missing in str(raised.value)
    assert row_counts(store) == (0, 0)


def test_resume_refuses_a_changed_definition_naming_the_workflow(store):
    name = f"changing-{uuid_module.uuid4()}"
    registry.register(name, [wfdefs.bump, wfdefs.halt_once, wfdefs.finish])
    halted = start(name, items({}), store)
    registry.register(name, [wfdefs.bump, wfdefs.halt_once, wfdefs.pause])
    with pytest.raises(DefinitionChangedError) as raised:
        resume(halted.uuid, store)
    assert (raised.value.uuid, raised.value.name) == (halted.uuid, name)
    assert halted.uuid in str(raised.value) and name in str(raised.value)
    assert get_workflow(halted.uuid, store).status is WorkflowStatus.HALTED


def test_resume_with_force_runs_a_changed_definition_and_adopts_it(store):
    name = f"changing-{uuid_module.uuid4()}"
    registry.register(name, [wfdefs.bump, wfdefs.halt_once, wfdefs.finish])
    halted = start(name, items({}, {}), store)
    registry.register(name, [wfdefs.bump, wfdefs.halt_once, wfdefs.pause])
    result = resume(halted.uuid, store, force=True)
    assert result.status is WorkflowStatus.HALTED
    assert "done" not in datas(halted.uuid, store)[0]
    assert resume(halted.uuid, store).status is WorkflowStatus.COMPLETED


def test_a_reregistered_identical_definition_is_not_a_change(store):
    name = f"same-{uuid_module.uuid4()}"
    registry.register(name, [wfdefs.bump, wfdefs.halt_once])
    halted = start(name, items({}), store)
    registry.register(name, [wfdefs.bump, wfdefs.halt_once])
    assert resume(halted.uuid, store).status is WorkflowStatus.COMPLETED


def _store_fingerprint(uuid, store, value):
    with store.session() as session:
        session.get(WorkflowRecord, uuid).fingerprint = value


def test_a_workflow_stored_with_a_2_2_0_fingerprint_resumes_and_is_upgraded(store):
    halted = start(REVIEW, items({"review": True}), store)
    definition = registry.get(REVIEW)
    _store_fingerprint(halted.uuid, store, legacy_fingerprint(definition))
    assert resume(halted.uuid, store).status is WorkflowStatus.COMPLETED
    with store.session() as session:
        stored = session.get(WorkflowRecord, halted.uuid).fingerprint
    assert stored == fingerprint(definition)


def test_a_2_2_0_fingerprint_of_another_definition_is_refused(store):
    halted = start(REVIEW, items({"review": True}), store)
    _store_fingerprint(halted.uuid, store, legacy_fingerprint([wfdefs.bump]))
    with pytest.raises(DefinitionChangedError):
        resume(halted.uuid, store)


def test_resume_refuses_a_running_workflow(store):
    halted = start(REVIEW, items({"review": True}), store)
    with store.session() as session:
        session.get(WorkflowRecord, halted.uuid).status = WorkflowStatus.RUNNING.value
    with pytest.raises(WorkflowBusyError) as raised:
        resume(halted.uuid, store)
    assert raised.value.uuid == halted.uuid
    assert "force=True" in str(raised.value)


# -- listing -------------------------------------------------------------------


def test_list_workflows_counts_objects_and_filters_by_status(store):
    done = start(REVIEW, items({}), store)
    halted = start(REVIEW, items({"review": True}, {}), store)
    failed = start(FAILING, items({}, {"fail": True}, {}), store)
    summary = [
        (info.uuid, info.status, info.object_count, info.halted_count, info.error_count)
        for info in list_workflows(store)
    ]
    assert summary == [
        (done.uuid, WorkflowStatus.COMPLETED, 1, 0, 0),
        (halted.uuid, WorkflowStatus.HALTED, 2, 1, 0),
        (failed.uuid, WorkflowStatus.ERROR, 3, 0, 1),
    ]
    for status in (WorkflowStatus.HALTED, "HALTED", "halted", 2):
        assert [info.uuid for info in list_workflows(store, status=status)] == [
            halted.uuid
        ]


def test_list_workflows_refuses_an_unknown_status(store):
    with pytest.raises(WorkflowAPIError) as raised:
        list_workflows(store, status="PAUSED")
    assert "Unknown workflow status 'PAUSED'" in str(raised.value)


@pytest.mark.parametrize("status", [7, -1, True, 2.5])
def test_list_workflows_refuses_a_value_that_is_no_status(store, status):
    with pytest.raises(WorkflowAPIError) as raised:
        list_workflows(store, status=status)
    assert str(raised.value) == (
        f"Unknown workflow status {status!r}; use a WorkflowStatus or one of"
        " NEW, RUNNING, HALTED, ERROR, COMPLETED"
    )


def test_workflow_info_has_dates_and_serializes(store):
    halted = start(REVIEW, items({"review": True}), store)
    info = get_workflow(halted.uuid, store)
    assert info.created.tzinfo is not None
    assert info.created <= info.modified
    as_dict = info.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["status"] == "HALTED"
    assert as_dict["created"] == info.created.isoformat()


def test_list_halted_objects_spans_workflows(store):
    first = start(REVIEW, items({"review": True}), store)
    start(REVIEW, items({}), store)
    second = start(REVIEW, items({}, {"review": True}), store)
    halted = list_halted_objects(store)
    assert [(info.workflow_uuid, info.position) for info in halted] == [
        (first.uuid, 0),
        (second.uuid, 1),
    ]
    assert halted[0].to_dict() == {
        "id": halted[0].id,
        "workflow_uuid": first.uuid,
        "position": 0,
        "status": "HALTED",
        "callback_pos": [1, 1, 0],
        "data": {"id": 0, "review": True, "count": 1},
        "extra_data": {},
        "halt_message": "",
        "halt_action": None,
        "error_message": None,
        "halt_payload": None,
    }


# -- data ------------------------------------------------------------------------


ROUND_TRIP = [
    {"nested": {"list": [1, 2.5, None, True, False], "dict": {"a": {"b": []}}}},
    ["héllo wörld", "日本語", "emoji \U0001f600", 'quote " and \\ backslash'],
    None,
    0.1,
    -1e300,
    123456789012345,
    "",
    [],
    {},
]


def test_data_round_trips_through_the_database(store):
    result = start("tests.storage.wfdefs:KEEP", ROUND_TRIP, store)
    assert result.status is WorkflowStatus.COMPLETED
    assert datas(result.uuid, store) == ROUND_TRIP


def test_data_changed_by_tasks_round_trips(store):
    name = f"replace-{uuid_module.uuid4()}"

    def replace(obj, eng):
        obj.data = {"was": obj.data, "text": "ünïcode", "f": 2.25, "none": None}

    registry.register(name, [replace])
    result = start(name, ROUND_TRIP, store)
    assert datas(result.uuid, store) == [
        {"was": value, "text": "ünïcode", "f": 2.25, "none": None}
        for value in ROUND_TRIP
    ]


def test_engine_and_object_extra_data_are_saved(store):
    result = start("tests.storage.wfdefs:ENGINE_DATA", [1, 2, 3], store)
    assert [info.extra_data for info in list_objects(result.uuid, store)] == [
        {"seen_as": 1},
        {"seen_as": 2},
        {"seen_as": 3},
    ]
    with store.session() as session:
        assert session.get(WorkflowRecord, result.uuid).extra_data == {"seen": 3}


def test_a_task_leaving_unserializable_data_fails_that_object(store):
    name = f"unstorable-{uuid_module.uuid4()}"

    def store_a_set(obj, eng):
        if obj.data == 1:
            obj.data = {"tags": {"a", "b"}}

    registry.register(name, [store_a_set])
    result = start(name, [0, 1, 2], store)
    assert result.status is WorkflowStatus.ERROR
    assert result.error.startswith(
        "UnserializableDataError: Cannot store object 1 data['tags'] is set"
    )
    assert statuses(result.uuid, store) == [C, E, N]
    assert datas(result.uuid, store) == [0, 1, 2]


def test_a_task_raising_workflow_error_is_reported_by_its_message(store):
    name = f"workflow-error-{uuid_module.uuid4()}"

    def refuse(obj, eng):
        raise WorkflowError("grade missing", id_object=obj.id, payload={"a": 1})

    registry.register(name, [refuse])
    result = start(name, [0], store)
    assert (result.status, result.error) == (
        WorkflowStatus.ERROR,
        "WorkflowError: grade missing",
    )


def test_a_task_leaving_unserializable_extra_data_fails_that_object(store):
    name = f"unstorable-extra-{uuid_module.uuid4()}"

    def note_then_store_a_set(obj, eng):
        eng.extra_data["seen"] = obj.data
        if obj.data == 1:
            eng.extra_data["tags"] = {"a", "b"}

    registry.register(name, [note_then_store_a_set])
    result = start(name, [0, 1, 2], store)
    assert result.status is WorkflowStatus.ERROR
    assert result.error.startswith(
        "UnserializableDataError: Cannot store engine extra_data['tags'] is set"
    )
    assert statuses(result.uuid, store) == [C, E, N]
    with store.session() as session:
        # The extra_data of the last save that could be stored.
        assert session.get(WorkflowRecord, result.uuid).extra_data == {"seen": 0}
