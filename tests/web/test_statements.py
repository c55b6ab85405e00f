"""The lists take a fixed number of SQL statements, whatever the page size."""

from __future__ import annotations

import pytest

from tests.web.conftest import start_halted
from workflow.storage import start


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


def test_workflow_page_takes_two_statements_at_any_object_count(
    operator, filled, statements
):
    uuid = operator.get("/api/workflows?per_page=1").json()["workflows"][0]["uuid"]
    counts = {
        size: _statements(operator, statements, f"/workflows/{uuid}?per_page={size}")
        for size in (1, 5)
    }
    assert counts == {1: 2, 5: 2}


def test_status_filter_keeps_two_statements(operator, filled, statements):
    assert _statements(operator, statements, "/?status=HALTED&name=approval") == 2
