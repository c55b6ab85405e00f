"""The lists take a fixed number of SQL statements, whatever the page size."""

from __future__ import annotations

import pytest

from tests.web.conftest import start_halted
from workflow.storage import start
from workflow.storage.history import record_event


@pytest.fixture
def filled(store):
    for number in range(30):
        start_halted(store, f"S{number}")
    start("approval", [{"student": "X", "grade": 1, "decision": "y"}] * 5, store)
    return store


def _statements(client, counter, path):
    client.get(path)  # warm caches and the session cookie
    counter.count = 0
    assert client.get(path).status_code == 200
    return counter.count


@pytest.mark.parametrize("path", ["/", "/api/workflows"])
def test_workflows_list_takes_two_statements_at_any_page_size(
    operator, filled, statements, path
):
    counts = {
        size: _statements(operator, statements, f"{path}?per_page={size}")
        for size in (1, 10, 31)
    }
    assert counts == {1: 2, 10: 2, 31: 2}


@pytest.mark.parametrize("path", ["/waiting", "/api/waiting"])
def test_waiting_list_takes_two_statements_at_any_page_size(
    operator, filled, statements, path
):
    counts = {
        size: _statements(operator, statements, f"{path}?per_page={size}")
        for size in (1, 10, 30)
    }
    assert counts == {1: 2, 10: 2, 30: 2}


def _add_events(store, uuid, count):
    with store.begin() as connection:
        for number in range(count):
            record_event(connection, uuid, "object_started", position=number % 3)


def test_workflow_page_takes_three_statements_at_any_object_or_event_count(
    operator, filled, statements, store
):
    uuid = operator.get("/api/workflows?per_page=1").json()["workflows"][0]["uuid"]
    _add_events(store, uuid, 120)
    counts = {
        size: _statements(operator, statements, f"/workflows/{uuid}?per_page={size}")
        for size in (1, 5)
    }
    older = operator.get(f"/api/workflows/{uuid}").json()["history"]["older"]
    counts["deep"] = _statements(
        operator, statements, f"/workflows/{uuid}?history_before={older}"
    )
    # The workflow, a page of its objects, a page of its history.
    assert counts == {1: 3, 5: 3, "deep": 3}


def test_object_page_takes_two_statements_at_any_event_count(
    operator, filled, statements, store
):
    uuid = operator.get("/api/workflows?per_page=1").json()["workflows"][0]["uuid"]
    oid = operator.get(f"/api/workflows/{uuid}").json()["objects"][0]["id"]
    counts = {}
    for events in (0, 120):
        _add_events(store, uuid, events)
        counts[events] = _statements(operator, statements, f"/objects/{oid}")
    # The object with its workflow's state, a page of its history.
    assert counts == {0: 2, 120: 2}


def test_status_filter_keeps_two_statements(operator, filled, statements):
    assert _statements(operator, statements, "/?status=HALTED&name=approval") == 2
