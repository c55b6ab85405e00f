"""Fixtures of the holding pen tests: a store with workflows halted for approval,
and clients logged in as an operator, as a reader, or not at all."""

from __future__ import annotations

import datetime
import re
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select

with warnings.catch_warnings():
    # Starlette asks for httpx2 where only httpx is packaged; the test client
    # works the same with both.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from tests.web import approval_flow  # noqa: F401 (registers the definition)
from workflow.engine_db import ObjectStatus, WorkflowStatus
from workflow.storage import ObjectRecord, WorkflowStore, start
from workflow.web.app import create_app
from workflow.web.auth import TokenAuth

TOKEN = "operator-token"
READ_ONLY_TOKEN = "reader-token"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """Return the CSRF token of the first form in ``html``."""
    found = _CSRF.search(html)
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


def flash_of(html: str) -> str:
    """Return the text of the page's flash message."""
    found = re.search(r'<p class="flash[^"]*" role="status">([^<]*)</p>', html)
    assert found is not None, "no flash message in the page"
    return found.group(1)


def start_halted(store: WorkflowStore, student: str, grade: int = 4) -> str:
    """Start an approval workflow over one object; return its uuid (HALTED)."""
    result = start("approval", [{"student": student, "grade": grade}], store)
    assert result.status.name == "HALTED"
    return result.uuid


def make_running(store: WorkflowStore, uuid: str, heartbeat: datetime.datetime) -> None:
    """Leave ``uuid`` RUNNING, claimed by a process last alive at ``heartbeat``."""
    with store.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE workflow_workflow SET status = ?, claim_token = ?, heartbeat = ?"
            " WHERE uuid = ?",
            (WorkflowStatus.RUNNING.value, "0" * 36, heartbeat, uuid),
        )


def dead_run(store: WorkflowStore, student: str = "Ann") -> str:
    """Return the uuid of an approval workflow whose process died a day ago
    while it ran the (already decided) object."""
    uuid = start("approval", [{"student": student, "grade": 4}], store).uuid
    with store.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE workflow_object SET status = ?, data = ?, halt_message = NULL,"
            " halt_action = NULL, halt_payload = NULL WHERE workflow_uuid = ?",
            (
                ObjectStatus.RUNNING.value,
                f'{{"student": "{student}", "grade": 4, "decision": "approved"}}',
                uuid,
            ),
        )
    yesterday = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(1)
    make_running(store, uuid, yesterday)
    return uuid


def object_row(store: WorkflowStore, uuid: str, position: int = 0) -> Any:
    """Return the stored row of the object at ``position`` of workflow ``uuid``."""
    with store.session() as session:
        return session.execute(
            select(ObjectRecord.__table__).where(
                ObjectRecord.workflow_uuid == uuid, ObjectRecord.position == position
            )
        ).one()


def object_id(store: WorkflowStore, uuid: str, position: int = 0) -> int:
    """Return the id of the object at ``position`` of workflow ``uuid``."""
    return int(object_row(store, uuid, position).id)


def log_in(client: TestClient, token: str) -> TestClient:
    """Log ``client`` in through the login form."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"csrf_token": csrf_of(page.text), "token": token, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    return client


@pytest.fixture
def store(sqlite_url: str) -> Iterator[WorkflowStore]:
    """An empty store in a SQLite file."""
    with WorkflowStore(sqlite_url) as opened:
        opened.create_all()
        yield opened


@pytest.fixture
def app(store: WorkflowStore) -> Any:
    """The holding pen over ``store``, with an operator and a reader token."""
    return create_app(store, token_auth=TokenAuth(TOKEN, READ_ONLY_TOKEN))


@pytest.fixture
def anonymous(app: Any) -> TestClient:
    """A client that has not logged in."""
    return TestClient(app)


@pytest.fixture
def operator(app: Any) -> TestClient:
    """A client logged in with the operator's token."""
    return log_in(TestClient(app), TOKEN)


@pytest.fixture
def reader(app: Any) -> TestClient:
    """A client logged in with the read-only token."""
    return log_in(TestClient(app), READ_ONLY_TOKEN)


class StatementCounter:
    """Counts the SQL statements an engine runs while it is active."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *args: Any) -> None:
        self.count += 1


@pytest.fixture
def statements(store: WorkflowStore) -> Iterator[StatementCounter]:
    """Count the statements sent to ``store``'s database."""
    counter = StatementCounter()
    event.listen(store.engine, "before_cursor_execute", counter)
    yield counter
    event.remove(store.engine, "before_cursor_execute", counter)
