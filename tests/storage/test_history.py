"""workflow.storage.history: recording and reading events, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime

import pytest

from workflow.storage import (
    EVENTS,
    HistoryEntry,
    WorkflowStore,
    delete_workflow,
    record_event,
    start,
    workflow_history,
)
from workflow.storage.history import message_has_event

WHEN = datetime.datetime(2026, 12, 4, 19, 0, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture
def store(store_url):
    store = WorkflowStore(store_url)
    try:
        yield store
    finally:
        store.dispose()


@pytest.fixture
def uuid(store):
    return start("tests.storage.wfdefs:KEEP", [1, 2], store).uuid


def test_a_recorded_event_is_read_back_with_every_field(store, uuid):
    with store.begin() as connection:
        record_event(
            connection,
            uuid,
            "action",
            position=1,
            actor="alice",
            message_id="m-1",
            details={"action": "approval", "choice": "approve"},
            time=WHEN,
        )
    [entry] = [e for e in workflow_history(uuid, store) if e.event == "action"]
    assert entry == HistoryEntry(
        entry.id,
        uuid,
        WHEN,
        "action",
        1,
        "alice",
        "m-1",
        {"action": "approval", "choice": "approve"},
    )
    assert entry.to_dict()["time"] == "2026-12-04T19:00:00+00:00"


def test_events_come_back_oldest_first_filtered_by_position_and_limited(store, uuid):
    with store.begin() as connection:
        for position, event in [(None, "resumed"), (0, "halted"), (1, "error")]:
            record_event(connection, uuid, event, position=position, time=WHEN)
    mine = [e for e in workflow_history(uuid, store) if e.time == WHEN]
    assert [(e.event, e.position) for e in mine] == [
        ("resumed", None),
        ("halted", 0),
        ("error", 1),
    ]
    assert [e.id for e in mine] == sorted(e.id for e in mine)
    assert [e.event for e in workflow_history(uuid, store, position=1)][-1] == "error"
    assert len(workflow_history(uuid, store, limit=1)) == 1


@pytest.mark.parametrize(
    ("latest", "limit", "kept"),
    [
        (False, 2, slice(None, 2)),
        (True, 2, slice(-2, None)),
        (True, 0, slice(0, 0)),
        (True, None, slice(None)),
        (True, 99, slice(None)),
    ],
)
def test_a_limit_keeps_the_oldest_events_or_with_latest_the_newest(
    store, uuid, latest, limit, kept
):
    with store.begin() as connection:
        for event in ["resumed", "halted", "resumed", "error"]:
            record_event(connection, uuid, event, position=0, time=WHEN)
    every = workflow_history(uuid, store)
    assert [entry.event for entry in every[-4:]] == [
        "resumed",
        "halted",
        "resumed",
        "error",
    ]
    assert workflow_history(uuid, store, limit=limit, latest=latest) == every[kept]


def test_an_event_rolled_back_with_its_transaction_is_not_recorded(store, uuid):
    before = workflow_history(uuid, store)
    with pytest.raises(RuntimeError), store.begin() as connection:
        record_event(connection, uuid, "halted", position=0)
        raise RuntimeError("the change failed")
    assert workflow_history(uuid, store) == before


def test_an_unknown_event_is_refused_naming_the_known_ones(store, uuid):
    with pytest.raises(ValueError) as raised, store.begin() as connection:
        record_event(connection, uuid, "paused")
    assert str(raised.value) == (
        f"event 'paused' is not a history event; use one of {', '.join(EVENTS)}"
    )


def test_a_negative_limit_is_refused(store, uuid):
    with pytest.raises(ValueError, match="limit must be 0 or more, not -1"):
        workflow_history(uuid, store, limit=-1)


def test_deleting_a_workflow_deletes_its_history(store, uuid):
    with store.begin() as connection:
        record_event(connection, uuid, "resumed")
    delete_workflow(uuid, store)
    assert workflow_history(uuid, store) == []


def test_message_has_event_finds_only_that_messages_listed_events(store, uuid):
    with store.begin() as connection:
        record_event(connection, uuid, "resumed", message_id="m-1")
        record_event(connection, uuid, "halted", position=0, message_id="m-2")
    with store.connect() as connection:
        assert [
            message_has_event(connection, uuid, message, events)
            for message, events in [
                ("m-1", ("resumed",)),
                ("m-1", ("halted",)),
                ("m-2", ("halted", "error")),
                ("m-3", ("resumed", "halted")),
            ]
        ] == [True, False, True, False]
