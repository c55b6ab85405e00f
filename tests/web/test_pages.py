"""The holding pen's pages and form actions, over a SQLite store."""

from __future__ import annotations

import re
import shutil

import pytest
from sqlalchemy import text

from tests.web.conftest import (
    TestClient,
    csrf_of,
    flash_of,
    log_in,
    object_id,
    object_row,
    start_halted,
)
from workflow.engine_db import ObjectStatus, WorkflowStatus
from workflow.storage import (
    WorkflowStore,
    get_workflow,
    list_workflows,
    registry,
    start,
)
from workflow.storage.history import workflow_history
from workflow.web.actions import LEAVE, HaltActions
from workflow.web.app import create_app
from workflow.web.auth import TokenAuth


def _post(client, path, page, **data):
    data["csrf_token"] = csrf_of(client.get(page).text)
    return client.post(path, data=data, follow_redirects=True)


def _rows(html: str) -> list[str]:
    """The uuids (8 characters) listed in the workflows table, in order."""
    return re.findall(
        r'<td class="uuid" data-label="Uuid"><a [^>]*>([0-9a-f]{8})</a>', html
    )


# -- workflows page --------------------------------------------------------


def test_workflows_page_counts_workflows_by_status(operator, store):
    start_halted(store, "Ann")
    start_halted(store, "Bob")
    start("approval", [{"student": "Cy", "grade": 5, "decision": "x"}], store)
    page = operator.get("/").text
    assert "All <b>3</b>" in page
    assert 'status-halted">HALTED</span> <b>2</b>' in page
    assert 'status-completed">COMPLETED</span> <b>1</b>' in page
    assert 'status-error">ERROR</span> <b>0</b>' in page


def test_workflows_page_lists_newest_first(operator, store):
    first = start_halted(store, "Ann")
    second = start_halted(store, "Bob")
    assert _rows(operator.get("/").text) == [second[:8], first[:8]]


def test_status_filter_lists_only_that_status(operator, store):
    halted = start_halted(store, "Ann")
    start("approval", [{"student": "Cy", "grade": 5, "decision": "x"}], store)
    assert _rows(operator.get("/?status=halted").text) == [halted[:8]]


def test_name_filter_lists_only_that_definition(operator, store):
    start_halted(store, "Ann")
    assert _rows(operator.get("/?name=other").text) == []
    assert len(_rows(operator.get("/?name=approval").text)) == 1


def test_uuid_prefix_search_finds_the_workflow(operator, store):
    uuids = [start_halted(store, name) for name in ("Ann", "Bob", "Cy")]
    target = uuids[1]
    assert _rows(operator.get(f"/?q={target[:6].upper()}").text) == [target[:8]]


def test_search_that_is_no_uuid_prefix_says_so(operator, store):
    start_halted(store, "Ann")
    page = operator.get("/?q=zz").text
    assert "“zz” is not the start of a uuid" in page
    assert _rows(page) == []


def test_workflows_page_paginates(operator, store):
    uuids = [start_halted(store, f"S{n}") for n in range(5)]
    newest_first = [uuid[:8] for uuid in reversed(uuids)]
    page_one = operator.get("/?per_page=2").text
    page_three = operator.get("/?per_page=2&page=3").text
    assert _rows(page_one) == newest_first[:2]
    assert _rows(page_three) == newest_first[4:]
    assert "Page 1 of 3" in page_one
    assert 'href="/?page=2&amp;per_page=2"' in page_one


# -- waiting list ----------------------------------------------------------


def test_waiting_list_groups_halted_objects_by_action(operator, store):
    start_halted(store, "Ann")
    start("approval", [{"student": "Cy", "grade": 5, "decision": "x"}], store)
    page = operator.get("/waiting").text
    assert "<h2>approval</h2>" in page
    assert page.count('<td class="message" data-label="Message">') == 1
    assert "Approve the grade of Ann?" in page
    assert "approval <b>1</b>" in page


def test_waiting_list_filters_by_action(operator, store):
    start_halted(store, "Ann")
    page = operator.get("/waiting?action=other").text
    assert "Nothing is waiting." in page


def test_waiting_list_shows_a_data_preview(operator, store):
    start_halted(store, "Ann")
    page = operator.get("/waiting").text
    assert "<code>{&#34;student&#34;: &#34;Ann&#34;, &#34;grade&#34;: 4}</code>" in page


# -- workflow page ---------------------------------------------------------


def test_workflow_page_lists_objects_with_status_and_position(operator, store):
    uuid = start_halted(store, "Ann")
    page = operator.get(f"/workflows/{uuid}").text
    assert '<td class="num" data-label="Position">0</td>' in page
    assert 'status-halted">HALTED</span></td>' in page
    assert '<td data-label="Task"><code>[0]</code></td>' in page
    assert "Approve the grade of Ann?" in page


def test_workflow_page_shows_the_svg_diagram(operator, store):
    uuid = start_halted(store, "Ann")
    page = operator.get(f"/workflows/{uuid}").text
    assert f'<img src="/workflows/{uuid}/diagram.svg"' in page
    svg = operator.get(f"/workflows/{uuid}/diagram.svg")
    assert svg.headers["content-type"] == "image/svg+xml"
    # The halted task (position [0]: ask_approval) is drawn highlighted.
    assert re.search(rb'<g id="node\d+" class="node">\s*<title>n0</title>', svg.content)
    assert b'fill="#ffd8a8"' in svg.content


def test_workflow_page_falls_back_to_mermaid_without_graphviz(
    operator, store, monkeypatch
):
    uuid = start_halted(store, "Ann")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    page = operator.get(f"/workflows/{uuid}").text
    assert '<pre class="mermaid">flowchart TD' in page
    assert "class n0 halted" in page


def test_unknown_definition_is_explained_on_the_workflow_page(operator, store):
    uuid = start_halted(store, "Ann")
    with store.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE workflow_workflow SET name = 'gone'")
    page = operator.get(f"/workflows/{uuid}").text
    assert "The definition cannot be loaded here: UnknownWorkflowError" in page


def test_unknown_workflow_is_404(operator):
    response = operator.get("/workflows/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert "No workflow with uuid" in response.text


# -- object page -----------------------------------------------------------


def test_object_page_shows_halt_message_action_and_payload(operator, store):
    uuid = start_halted(store, "Ann")
    page = operator.get(f"/objects/{object_id(store, uuid)}").text
    assert '<p class="message">Approve the grade of Ann?</p>' in page
    assert 'Halted for <span class="tag">approval</span>' in page
    assert '<pre class="json">{\n  &#34;grade&#34;: 4\n}</pre>' in page


def test_times_are_shown_with_their_zone(operator, store):
    uuid = start_halted(store, "Ann")
    oid = object_id(store, uuid)
    modified = object_row(store, uuid).modified
    page = operator.get(f"/objects/{oid}").text
    shown = modified.strftime("%Y-%m-%d %H:%M:%S")
    assert f'<time datetime="{modified.isoformat()}">{shown} UTC</time>' in page


def test_object_page_offers_the_registered_choices(operator, store):
    uuid = start_halted(store, "Ann")
    page = operator.get(f"/objects/{object_id(store, uuid)}").text
    assert re.findall(r'<button type="submit" name="choice" value="(\w+)">', page) == [
        "approve",
        "reject",
        "note",
    ]
    assert '<label>Reason <input name="reason"></label>' in page


def test_object_page_truncates_large_data_with_show_all(store):
    app = create_app(store, token_auth=TokenAuth("t"), data_limit=50)
    client = log_in(TestClient(app), "t")
    uuid = start_halted(store, "A" * 200)
    oid = object_id(store, uuid)
    page = client.get(f"/objects/{oid}").text
    assert f'href="/objects/{oid}?full=1#data">Show all (233 characters)' in page
    # The first 50 characters of the JSON text, then an ellipsis.
    assert _data_block(page) == "{\n  &#34;student&#34;: &#34;" + "A" * 34 + "…"
    full = _data_block(client.get(f"/objects/{oid}?full=1").text)
    assert full.endswith("A&#34;,\n  &#34;grade&#34;: 4\n}")


def _data_block(html: str) -> str:
    found = re.search(r'<pre class="json" id="data">(.*?)</pre>', html, re.S)
    assert found is not None
    return found.group(1)


def test_object_page_shows_the_stored_error_text(operator, store):
    result = start("approval", [{"grade": 4}], store)
    assert result.status is WorkflowStatus.ERROR
    with store.session() as session:
        oid = session.execute(text("SELECT id FROM workflow_object")).scalar_one()
    page = operator.get(f"/objects/{oid}").text
    assert '<pre class="traceback">Traceback (most recent call last):' in page
    assert "KeyError: &#39;student&#39;" in page


# -- actions ---------------------------------------------------------------


def test_approve_completes_the_object(operator, store):
    uuid = start_halted(store, "Ann")
    oid = object_id(store, uuid)
    page = _post(operator, f"/objects/{oid}/act/approve", f"/objects/{oid}")
    assert flash_of(page.text) == f"approval/approve: Workflow {uuid} is COMPLETED"
    assert f'Object #{oid} <span class="status status-completed">' in page.text
    row = object_row(store, uuid)
    assert row.status == ObjectStatus.COMPLETED.value
    assert row.data == {
        "student": "Ann",
        "grade": 4,
        "decision": "approved",
        "by": "operator",
        "recorded": True,
    }


def test_reject_passes_the_typed_reason(operator, store):
    uuid = start_halted(store, "Ann")
    oid = object_id(store, uuid)
    _post(operator, f"/objects/{oid}/act/reject", f"/objects/{oid}", reason="late")
    row = object_row(store, uuid)
    assert row.status == ObjectStatus.COMPLETED.value
    assert row.data["decision"] == "rejected"
    assert row.data["reason"] == "late"


def test_leave_saves_the_data_and_keeps_the_object_halted(operator, store):
    uuid = start_halted(store, "Ann")
    oid = object_id(store, uuid)
    page = _post(operator, f"/objects/{oid}/act/note", f"/objects/{oid}", note="hm")
    assert flash_of(page.text) == "approval/note: Done"
    row = object_row(store, uuid)
    assert row.status == ObjectStatus.HALTED.value
    assert row.data["notes"] == ["hm"]
    assert get_workflow(uuid, store).status is WorkflowStatus.HALTED


def test_choice_on_an_object_that_is_not_halted_is_409(operator, store):
    uuid = start_halted(store, "Ann")
    oid = object_id(store, uuid)
    _post(operator, f"/objects/{oid}/act/approve", f"/objects/{oid}")
    response = _post(operator, f"/objects/{oid}/act/approve", "/")
    assert response.status_code == 409
    assert f"Object {oid} is not halted (it is COMPLETED)" in response.text


def test_unknown_choice_is_404(operator, store):
    uuid = start_halted(store, "Ann")
    oid = object_id(store, uuid)
    response = _post(operator, f"/objects/{oid}/act/escalate", "/")
    assert response.status_code == 404
    assert "has no choice &#39;escalate&#39;" in response.text


def test_resume_runs_on_after_the_halt(operator, store):
    uuid = start_halted(store, "Ann")
    page = _post(operator, f"/workflows/{uuid}/resume", f"/workflows/{uuid}")
    assert flash_of(page.text) == f"Workflow {uuid} is COMPLETED"
    assert get_workflow(uuid, store).status is WorkflowStatus.COMPLETED


def test_restart_with_words_runs_the_halting_task_again(operator, store):
    uuid = start_halted(store, "Ann")
    page = _post(
        operator,
        f"/workflows/{uuid}/restart",
        f"/workflows/{uuid}",
        object="current",
        task="first",
    )
    assert flash_of(page.text) == (
        f"Workflow {uuid} is HALTED: Approve the grade of Ann?"
    )


def test_restart_with_an_unknown_word_is_400(operator, store):
    uuid = start_halted(store, "Ann")
    response = _post(
        operator, f"/workflows/{uuid}/restart", "/", object="last", task="first"
    )
    assert response.status_code == 400
    assert "Unknown object position &#39;last&#39;" in response.text


def test_delete_removes_the_workflow_and_its_objects(operator, store):
    uuid = start_halted(store, "Ann")
    page = _post(operator, f"/workflows/{uuid}/delete", f"/workflows/{uuid}")
    assert flash_of(page.text) == f"Workflow {uuid} deleted"
    assert list_workflows(store) == []
    with store.engine.connect() as connection:
        count = connection.exec_driver_sql("SELECT count(*) FROM workflow_object")
        assert count.scalar_one() == 0


def test_running_workflow_cannot_be_deleted(operator, store):
    uuid = start_halted(store, "Ann")
    with store.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE workflow_workflow SET status = ?",
            (WorkflowStatus.RUNNING.value,),
        )
    response = _post(operator, f"/workflows/{uuid}/delete", "/")
    assert response.status_code == 409
    assert (
        f"Workflow {uuid} is RUNNING in another process: it cannot be deleted while"
        " it runs (take it over if that process is gone)"
    ) in response.text


def test_resume_of_a_running_workflow_is_409(operator, store):
    uuid = start_halted(store, "Ann")
    with store.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE workflow_workflow SET status = ?",
            (WorkflowStatus.RUNNING.value,),
        )
    response = _post(operator, f"/workflows/{uuid}/resume", "/")
    assert response.status_code == 409
    assert "is RUNNING in another process" in response.text


def test_choice_that_would_go_on_from_another_object_is_409(operator, store):
    result = start(
        "approval",
        [{"student": "Ann", "grade": 4}, {"student": "Bob", "grade": 5}],
        store,
        stop_on_halt=False,
    )
    first = object_id(store, result.uuid, 0)
    response = _post(operator, f"/objects/{first}/act/approve", "/")
    assert response.status_code == 409
    assert "stopped at object 1, not at this one (0)" in response.text
    assert object_row(store, result.uuid, 0).data == {"student": "Ann", "grade": 4}


def test_data_changed_meanwhile_is_409(store):
    actions = HaltActions()

    def slow_note(request):
        # Another process claims the workflow while the handler runs.
        with store.engine.begin() as connection:
            connection.exec_driver_sql(
                "UPDATE workflow_workflow SET version = version + 1"
            )
        request.data["notes"] = ["x"]
        return LEAVE

    actions.register("approval", "note", slow_note)
    client = TestClient(create_app(store, get_user=lambda r: "ann", actions=actions))
    uuid = start_halted(store, "Ann")
    oid = object_id(store, uuid)
    response = _post(client, f"/objects/{oid}/act/note", f"/objects/{oid}")
    assert response.status_code == 409
    assert "changed since it was read" in response.text
    assert "notes" not in object_row(store, uuid).data
    # The action is recorded with its change of the data, or not at all.
    assert [e for e in workflow_history(uuid, store) if e.event == "action"] == []


@pytest.mark.postgresql
def test_pages_work_on_postgresql(postgresql_url):
    with WorkflowStore(postgresql_url) as pg_store:
        pg_store.create_all()
        uuid = start_halted(pg_store, "Ann")
        client = log_in(
            TestClient(create_app(pg_store, token_auth=TokenAuth("t"))), "t"
        )
        oid = object_id(pg_store, uuid)
        for path in ("/", "/waiting", f"/workflows/{uuid}", f"/objects/{oid}"):
            assert client.get(path).status_code == 200
        page = _post(client, f"/objects/{oid}/act/approve", f"/objects/{oid}")
        assert flash_of(page.text) == f"approval/approve: Workflow {uuid} is COMPLETED"
        assert object_row(pg_store, uuid).status == ObjectStatus.COMPLETED.value


def _halt_for_review(obj, eng):
    eng.halt("Review", action="review")


def _extra_step(obj, eng):
    obj.data["extra"] = True


def test_resume_after_the_definition_changed_is_409(operator, store, monkeypatch):
    # The registry is the process's own: the test's definitions leave with it.
    monkeypatch.setattr(registry, "_definitions", dict(registry._definitions))
    registry.register("shifting", [_halt_for_review])
    uuid = start("shifting", [{}], store).uuid
    registry.register("shifting", [_halt_for_review, _extra_step])
    response = _post(operator, f"/workflows/{uuid}/resume", "/")
    assert response.status_code == 409
    assert (
        f"The definition &#39;shifting&#39; changed since workflow {uuid} was"
        " saved: resume it from the command line with --allow-changed-definition"
        " if the new definition fits"
    ) in response.text
    assert get_workflow(uuid, store).status is WorkflowStatus.HALTED
