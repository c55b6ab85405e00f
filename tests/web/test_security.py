"""The holding pen's security rules, one test per rule and case."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import insert
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount

from tests.web.conftest import (
    READ_ONLY_TOKEN,
    TOKEN,
    TestClient,
    csrf_of,
    log_in,
    object_id,
    object_row,
    start_halted,
)
from workflow.engine_db import ObjectStatus, WorkflowStatus
from workflow.storage import ObjectRecord, WorkflowRecord, WorkflowStore, get_workflow
from workflow.storage.history import record_event
from workflow.web.actions import HaltActions
from workflow.web.app import create_app, safe_next
from workflow.web.auth import TokenAuth

HOSTILE = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
ESCAPED_IN_JSON_TEXT = "&lt;script&gt;alert(\\&#34;x\\&#34;)&lt;/script&gt;"

PAGES = ["/", "/waiting", "/workflows/{uuid}", "/objects/{id}"]
API = ["/api/workflows", "/api/waiting", "/api/workflows/{uuid}", "/api/objects/{id}"]


@pytest.fixture
def halted(store: WorkflowStore) -> tuple[str, int]:
    uuid = start_halted(store, "Ann")
    return uuid, object_id(store, uuid)


def _paths(paths: list[str], halted: tuple[str, int]) -> list[str]:
    return [path.format(uuid=halted[0], id=halted[1]) for path in paths]


# -- no anonymous access ---------------------------------------------------


def test_create_app_refuses_to_run_without_authentication(store: WorkflowStore):
    with pytest.raises(ValueError, match="anonymous access is not offered"):
        create_app(store)


@pytest.mark.parametrize("index", range(len(PAGES)))
def test_pages_send_anonymous_people_to_the_login_page(anonymous, halted, index):
    path = _paths(PAGES, halted)[index]
    response = anonymous.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("index", range(len(API)))
def test_json_api_answers_401_to_anonymous_requests(anonymous, halted, index):
    response = anonymous.get(_paths(API, halted)[index])
    assert response.status_code == 401
    assert response.json() == {"error": "Log in first"}


def test_anonymous_post_changes_nothing(anonymous, store, halted):
    uuid, _ = halted
    page = anonymous.get("/login")
    response = anonymous.post(
        f"/workflows/{uuid}/delete", data={"csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 401
    assert get_workflow(uuid, store).status is WorkflowStatus.HALTED


def test_wrong_token_does_not_log_in(anonymous):
    page = anonymous.get("/login")
    response = anonymous.post(
        "/login", data={"csrf_token": csrf_of(page.text), "token": "guess"}
    )
    assert response.status_code == 401
    assert "Wrong token" in response.text
    assert anonymous.get("/", follow_redirects=False).status_code == 303


def test_wrong_bearer_token_is_refused(anonymous, halted):
    response = anonymous.get(
        "/api/workflows", headers={"Authorization": "Bearer guess"}
    )
    assert response.status_code == 401


def test_logging_out_ends_the_session(operator):
    page = operator.get("/")
    response = operator.post(
        "/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert operator.get("/", follow_redirects=False).status_code == 303


def test_token_auth_refuses_equal_tokens():
    with pytest.raises(ValueError, match="must be non-empty and differ"):
        TokenAuth("same", "same")


# -- CSRF ------------------------------------------------------------------


def test_post_without_csrf_token_is_refused(operator, store, halted):
    _, oid = halted
    response = operator.post(f"/objects/{oid}/act/approve", data={})
    assert response.status_code == 403
    assert "missing or wrong CSRF token" in response.text
    assert object_row(store, halted[0]).status == ObjectStatus.HALTED.value


def test_post_with_wrong_csrf_token_is_refused(operator, store, halted):
    _, oid = halted
    response = operator.post(
        f"/objects/{oid}/act/approve", data={"csrf_token": "forged"}
    )
    assert response.status_code == 403
    assert object_row(store, halted[0]).status == ObjectStatus.HALTED.value


def test_csrf_token_of_another_session_is_refused(app, operator, store, halted):
    other = log_in(TestClient(app), TOKEN)
    token = csrf_of(other.get("/").text)
    _, oid = halted
    response = operator.post(f"/objects/{oid}/act/approve", data={"csrf_token": token})
    assert response.status_code == 403
    assert object_row(store, halted[0]).status == ObjectStatus.HALTED.value


def test_login_without_csrf_token_is_refused(anonymous):
    response = anonymous.post("/login", data={"token": TOKEN})
    assert response.status_code == 403


def test_json_post_with_session_cookie_needs_the_csrf_header(operator, store, halted):
    uuid, _ = halted
    response = operator.post(f"/api/workflows/{uuid}/resume")
    assert response.status_code == 403
    assert get_workflow(uuid, store).status is WorkflowStatus.HALTED


def test_json_post_with_session_cookie_and_csrf_header_is_accepted(operator, halted):
    uuid, _ = halted
    token = operator.get("/api/csrf").json()["csrf_token"]
    response = operator.post(
        f"/api/workflows/{uuid}/resume", headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "COMPLETED"


def test_get_cannot_change_state(operator, store, halted):
    uuid, oid = halted
    response = operator.get(f"/objects/{oid}/act/approve")
    assert response.status_code == 405
    assert object_row(store, uuid).status == ObjectStatus.HALTED.value


# -- read-only role --------------------------------------------------------


def test_reader_sees_the_pages(reader, halted):
    for path in _paths(PAGES, halted):
        assert reader.get(path).status_code == 200


def test_reader_is_offered_no_action(reader, halted):
    uuid, oid = halted
    assert "Approve</button>" not in reader.get(f"/objects/{oid}").text
    workflow_page = reader.get(f"/workflows/{uuid}").text
    assert ">Resume</button>" not in workflow_page
    assert ">Delete</button>" not in workflow_page


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "/objects/{id}/act/approve",
            "You may not approve object {id} (workflow {uuid})",
        ),
        ("/workflows/{uuid}/resume", "You may not resume workflow {uuid}"),
        ("/workflows/{uuid}/restart", "You may not restart workflow {uuid}"),
        ("/workflows/{uuid}/delete", "You may not delete workflow {uuid}"),
    ],
)
def test_reader_actions_are_refused(reader, store, halted, path, message):
    uuid, oid = halted
    token = csrf_of(reader.get("/").text)
    response = reader.post(path.format(uuid=uuid, id=oid), data={"csrf_token": token})
    assert response.status_code == 403
    assert message.format(uuid=uuid, id=oid) in response.text
    assert get_workflow(uuid, store).status is WorkflowStatus.HALTED
    assert object_row(store, uuid).data == {"student": "Ann", "grade": 4}


def test_reader_bearer_token_cannot_act(anonymous, store, halted):
    uuid, _ = halted
    response = anonymous.post(
        f"/api/workflows/{uuid}/delete",
        headers={"Authorization": f"Bearer {READ_ONLY_TOKEN}"},
    )
    assert response.status_code == 403
    assert response.json() == {"error": f"You may not delete workflow {uuid}"}
    assert get_workflow(uuid, store).status is WorkflowStatus.HALTED


# -- escaping --------------------------------------------------------------


@pytest.fixture
def hostile(store: WorkflowStore) -> tuple[str, int]:
    """A workflow and an object with markup in every field a page shows."""
    uuid = "0badc0de-0000-4000-8000-000000000000"
    with store.session() as session:
        session.execute(
            insert(WorkflowRecord.__table__).values(
                uuid=uuid,
                name=HOSTILE,
                status=WorkflowStatus.HALTED.value,
                extra_data={"note": HOSTILE},
                token_pos=0,
                callback_pos=[0],
                fingerprint="",
                version=1,
            )
        )
        session.execute(
            insert(ObjectRecord.__table__).values(
                workflow_uuid=uuid,
                position=0,
                data={"title": HOSTILE, HOSTILE: 1},
                extra_data={"why": HOSTILE},
                status=ObjectStatus.HALTED.value,
                callback_pos=[0],
                halt_message=HOSTILE,
                halt_action=HOSTILE,
                halt_payload={"ask": HOSTILE},
                error_message=f"Traceback (most recent call last):\n{HOSTILE}",
            )
        )
        record_event(
            session.connection(),
            uuid,
            "action",
            position=0,
            actor=HOSTILE,
            details={"why": HOSTILE},
        )
    return uuid, object_id(store, uuid)


@pytest.mark.parametrize("index", range(len(PAGES)))
def test_hostile_data_is_shown_as_text(operator, hostile, index):
    page = operator.get(_paths(PAGES, hostile)[index]).text
    assert "<script" not in page
    assert ESCAPED in page or ESCAPED_IN_JSON_TEXT in page


def test_every_hostile_field_of_the_object_page_is_escaped(operator, hostile):
    page = operator.get(f"/objects/{hostile[1]}").text
    # Name (twice), action (tag, and the hint that it has no choice),
    # message, error, the history's actor; data (key and value), extra
    # data, payload and the history's details: every one escaped, none raw.
    assert page.count(ESCAPED) == 7
    assert page.count(ESCAPED_IN_JSON_TEXT) == 5
    assert page.count("&lt;script&gt;alert(") == 12


def test_every_hostile_field_of_the_workflow_page_is_escaped(operator, hostile):
    page = operator.get(f"/workflows/{hostile[0]}").text
    assert "<script" not in page
    # Name (in the facts and the definition's error), the object's action,
    # message and error line, the history's actor; extra data and the
    # history's details.
    assert page.count(ESCAPED) == 6
    assert page.count(ESCAPED_IN_JSON_TEXT) == 2


def test_hostile_user_name_is_escaped(store, halted):
    app = create_app(store, get_user=lambda request: HOSTILE)
    page = TestClient(app).get("/").text
    assert f'<span class="user">{ESCAPED}</span>' in page


def test_json_answers_are_json_not_html(operator, hostile):
    response = operator.get(f"/api/objects/{hostile[1]}")
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.json()["halt_message"] == HOSTILE


def test_pages_forbid_scripts_and_framing(operator):
    headers = operator.get("/").headers
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"


# -- redirects -------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/x:y",
        " /objects",
        "",
    ],
)
def test_redirect_targets_outside_the_app_are_replaced(target):
    assert safe_next(target) == "/"


def test_redirect_target_inside_the_app_is_kept():
    assert safe_next("/objects/3?full=1") == "/objects/3?full=1"


def test_login_ignores_an_outside_next(anonymous):
    page = anonymous.get("/login")
    response = anonymous.post(
        "/login",
        data={
            "csrf_token": csrf_of(page.text),
            "token": TOKEN,
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_action_ignores_an_outside_next(operator, halted):
    uuid, oid = halted
    token = csrf_of(operator.get(f"/objects/{oid}").text)
    response = operator.post(
        f"/objects/{oid}/act/approve",
        data={"csrf_token": token, "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/objects/{oid}"


# -- cross-origin JSON -----------------------------------------------------


def test_cross_origin_json_with_cookie_is_refused(operator, halted):
    response = operator.get(
        "/api/workflows", headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert response.json() == {
        "error": "Cross-origin requests need a bearer token (Authorization header)"
    }


def test_cross_site_fetch_with_cookie_is_refused(operator, halted):
    response = operator.get("/api/waiting", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403


def test_cross_origin_json_with_bearer_token_is_answered(anonymous, halted):
    response = anonymous.get(
        "/api/workflows",
        headers={"Origin": "https://tool.example", "Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 200
    assert response.json()["total"] == 1


def test_same_origin_json_with_cookie_is_answered(operator, halted):
    response = operator.get("/api/workflows", headers={"Origin": "http://testserver"})
    assert response.status_code == 200


# -- errors ----------------------------------------------------------------


def _failing_app(store: WorkflowStore, debug: bool) -> Any:
    actions = HaltActions()

    def explode(request: Any) -> Any:
        raise RuntimeError("secret detail")

    actions.register("approval", "approve", explode)
    return create_app(
        store, get_user=lambda request: "ann", actions=actions, debug=debug
    )


def test_handler_failure_shows_no_traceback(store, halted):
    client = TestClient(_failing_app(store, debug=False))
    token = csrf_of(client.get(f"/objects/{halted[1]}").text)
    response = client.post(
        f"/objects/{halted[1]}/act/approve", data={"csrf_token": token}
    )
    assert response.status_code == 500
    assert "Traceback" not in response.text
    assert "secret detail" not in response.text
    assert "approval/approve handler failed; the server log has the details" in (
        response.text
    )


def test_unexpected_error_shows_no_traceback(sqlite_url):
    store = WorkflowStore(sqlite_url)
    store.create_all()
    app = create_app(store, get_user=lambda request: "ann")
    # A table that vanished: every read fails with an unexpected error.
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE workflow_object")
    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/waiting")
    assert response.status_code == 500
    assert "Traceback" not in response.text
    assert "workflow_object" not in response.text
    assert "Something went wrong on the server" in response.text


def test_unexpected_error_shows_traceback_in_debug(sqlite_url):
    store = WorkflowStore(sqlite_url)
    store.create_all()
    app = create_app(store, get_user=lambda request: "ann", debug=True)
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE workflow_object")
    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/waiting", headers={"Accept": "text/html"})
    assert response.status_code == 500
    assert "Traceback" in response.text


def test_unknown_page_is_a_plain_404(operator):
    response = operator.get("/nowhere")
    assert response.status_code == 404
    assert "Traceback" not in response.text


# -- host application ------------------------------------------------------


def _host(store: WorkflowStore, allowed: set[str]) -> Starlette:
    """A host app whose users say who they are in a session, mounting the pen."""

    def get_user(request: Any) -> str | None:
        return request.headers.get("x-user")

    def authorize(user: Any, permission: str, workflow: Any) -> bool:
        return permission == "view" or f"{user}:{permission}" in allowed

    pen = create_app(store, get_user=get_user, authorize=authorize, login_url="/sso")
    return Starlette(
        routes=[Mount("/pen", app=pen)],
        middleware=[Middleware(SessionMiddleware, secret_key="host")],
    )


def test_host_app_sends_anonymous_people_to_its_login_url(store, halted):
    client = TestClient(_host(store, set()))
    response = client.get("/pen/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/sso"


def test_host_app_links_stay_under_the_mount_path(store, halted):
    client = TestClient(_host(store, set()))
    page = client.get("/pen/", headers={"x-user": "ann"}).text
    assert f'href="/pen/workflows/{halted[0]}"' in page


def test_host_authorize_refuses_an_action(store, halted):
    client = TestClient(_host(store, {"bob:act:approval:approve"}))
    headers = {"x-user": "ann"}
    # Ann is offered no form: the JSON API hands her a CSRF token all the same.
    token = client.get("/pen/api/csrf", headers=headers).json()["csrf_token"]
    response = client.post(
        f"/pen/objects/{halted[1]}/act/approve",
        data={"csrf_token": token},
        headers=headers,
    )
    assert response.status_code == 403
    assert object_row(store, halted[0]).status == ObjectStatus.HALTED.value


def test_host_authorize_allows_an_action(store, halted):
    client = TestClient(_host(store, {"bob:act:approval:approve"}))
    headers = {"x-user": "bob"}
    token = csrf_of(client.get(f"/pen/objects/{halted[1]}", headers=headers).text)
    response = client.post(
        f"/pen/objects/{halted[1]}/act/approve",
        data={"csrf_token": token},
        headers=headers,
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/pen/objects/{halted[1]}"
    row = object_row(store, halted[0])
    assert row.status == ObjectStatus.COMPLETED.value
    assert json.loads(json.dumps(row.data))["by"] == "bob"
