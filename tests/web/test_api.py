"""The holding pen's JSON API, driven with a bearer token."""

from __future__ import annotations

import pytest

from tests.web.conftest import TOKEN, object_id, object_row, start_halted
from workflow.engine_db import ObjectStatus, WorkflowStatus
from workflow.storage import get_workflow, start

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def api(anonymous):
    anonymous.headers.update(AUTH)
    return anonymous


def test_workflows_lists_counts_and_rows(api, store):
    uuid = start_halted(store, "Ann")
    answer = api.get("/api/workflows").json()
    assert answer["total"] == 1
    assert answer["counts"] == {"HALTED": 1}
    assert (answer["limit"], answer["offset"]) == (50, 0)
    row = answer["workflows"][0]
    assert {k: row[k] for k in ("uuid", "name", "status")} == {
        "uuid": uuid,
        "name": "approval",
        "status": "HALTED",
    }
    assert (row["object_count"], row["halted_count"], row["error_count"]) == (1, 1, 0)


def test_workflows_pages_with_limit_and_offset(api, store):
    uuids = [start_halted(store, name) for name in ("Ann", "Bob", "Cy")]
    answer = api.get("/api/workflows?per_page=1&offset=1").json()
    assert [row["uuid"] for row in answer["workflows"]] == [uuids[1]]


def test_workflows_refuses_an_unknown_status(api):
    response = api.get("/api/workflows?status=sleeping")
    assert response.status_code == 400
    assert response.json() == {"error": "Unknown status 'sleeping'"}


def test_workflows_refuses_a_bad_uuid_prefix(api):
    response = api.get("/api/workflows?q=xyz")
    assert response.status_code == 400
    assert response.json() == {"error": "'xyz' is not a uuid prefix"}


def test_workflow_has_its_objects(api, store):
    uuid = start_halted(store, "Ann")
    answer = api.get(f"/api/workflows/{uuid}").json()
    assert answer["status"] == "HALTED"
    assert answer["stopped_at"] == [0]
    assert [(o["position"], o["status"]) for o in answer["objects"]] == [(0, "HALTED")]


def test_object_lists_its_choices(api, store):
    uuid = start_halted(store, "Ann")
    answer = api.get(f"/api/objects/{object_id(store, uuid)}").json()
    assert answer["halt_payload"] == {"grade": 4}
    assert answer["choices"] == [
        {"name": "approve", "label": "Approve", "fields": []},
        {"name": "reject", "label": "Reject", "fields": ["reason"]},
        {"name": "note", "label": "Add a note", "fields": ["note"]},
    ]


def test_waiting_counts_by_action(api, store):
    start_halted(store, "Ann")
    start_halted(store, "Bob")
    answer = api.get("/api/waiting").json()
    assert answer["total"] == 2
    assert answer["counts"] == [{"action": "approval", "count": 2}]
    assert [o["message"] for o in answer["objects"]] == [
        "Approve the grade of Ann?",
        "Approve the grade of Bob?",
    ]


def test_choice_with_params_completes_the_object(api, store):
    uuid = start_halted(store, "Ann")
    oid = object_id(store, uuid)
    response = api.post(
        f"/api/objects/{oid}/act/reject", json={"params": {"reason": "late"}}
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["outcome"] == "resume"
    assert answer["data_changed"] is True
    assert answer["result"]["status"] == "COMPLETED"
    row = object_row(store, uuid)
    assert (row.status, row.data["reason"]) == (ObjectStatus.COMPLETED.value, "late")


def test_choice_refuses_params_that_are_not_an_object(api, store):
    uuid = start_halted(store, "Ann")
    response = api.post(
        f"/api/objects/{object_id(store, uuid)}/act/reject", json={"params": [1]}
    )
    assert response.status_code == 400
    assert response.json() == {"error": "params must be a JSON object"}


def test_body_that_is_not_json_is_400(api, store):
    uuid = start_halted(store, "Ann")
    response = api.post(f"/api/workflows/{uuid}/restart", content=b"{nope")
    assert response.status_code == 400
    assert response.json() == {"error": "The request body is not JSON"}


def test_restart_takes_its_words_from_the_body(api, store):
    uuid = start_halted(store, "Ann")
    response = api.post(
        f"/api/workflows/{uuid}/restart", json={"object": "current", "task": "next"}
    )
    assert response.json()["status"] == "COMPLETED"


def test_resume_answers_the_result(api, store):
    uuid = start_halted(store, "Ann")
    answer = api.post(f"/api/workflows/{uuid}/resume").json()
    assert answer == {
        "uuid": uuid,
        "name": "approval",
        "status": "COMPLETED",
        "halted_message": None,
        "error": None,
        "replayed": False,
    }


def test_delete_answers_deleted(api, store):
    uuid = start_halted(store, "Ann")
    assert api.post(f"/api/workflows/{uuid}/delete").json() == {
        "uuid": uuid,
        "deleted": True,
    }


def test_unknown_workflow_action_is_404(api, store):
    uuid = start_halted(store, "Ann")
    response = api.post(f"/api/workflows/{uuid}/explode")
    assert response.status_code == 404
    assert get_workflow(uuid, store).status is WorkflowStatus.HALTED


def test_error_workflow_resumes_after_the_failed_task(api, store):
    result = start("approval", [{"grade": 4}], store)
    answer = api.post(f"/api/workflows/{result.uuid}/resume").json()
    assert answer["status"] == "COMPLETED"
