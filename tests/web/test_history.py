"""The run history on the holding pen's pages and in its JSON API, and the
actions people take recorded in it."""

from __future__ import annotations

import datetime
import html
import re

import pytest

from tests.web.conftest import (
    TOKEN,
    TestClient,
    csrf_of,
    dead_run,
    flash_of,
    make_running,
    object_id,
    object_row,
    start_halted,
)
from workflow.engine_db import ObjectStatus
from workflow.storage import WorkflowStore, start
from workflow.storage.history import record_event, workflow_history
from workflow.web.actions import LEAVE, HaltActions
from workflow.web.app import create_app

AUTH = {"Authorization": f"Bearer {TOKEN}"}
HOSTILE = "<script>alert(1)</script>"


def _post(client, path, page, **data):
    data["csrf_token"] = csrf_of(client.get(page).text)
    return client.post(path, data=data, follow_redirects=True)


def _events(html_text: str) -> list[tuple[str, str, str]]:
    """(event, who, details) of each row of the page's history table."""
    section = html_text.split('<section class="history"', 1)[1]
    rows = re.findall(
        r'<span class="event event-[a-z_]+">([a-z_]+)</span>.*?'
        r'<td class="actor" data-label="Who">([^<]*)</td>\s*'
        r'<td class="data" data-label="Details"><code>([^<]*)</code>',
        section,
        re.S,
    )
    return [(event, html.unescape(who), html.unescape(d)) for event, who, d in rows]


def _actions(store: WorkflowStore, uuid: str) -> list[tuple[int | None, str, dict]]:
    """(position, actor, details) of each "action" event, oldest first."""
    return [
        (entry.position, entry.actor, entry.details)
        for entry in workflow_history(uuid, store)
        if entry.event == "action"
    ]


def _add(store, uuid, count, position=None, start_at=0):
    with store.begin() as connection:
        for number in range(start_at, start_at + count):
            record_event(
                connection,
                uuid,
                "object_started",
                position=position,
                details={"n": number},
            )


# -- reading the history ---------------------------------------------------


def test_workflow_page_shows_the_history_newest_first_as_text(operator, store):
    uuid = start_halted(store, "Ann")
    with store.begin() as connection:
        record_event(connection, uuid, "halted", position=0, details={"m": HOSTILE})
        record_event(
            connection, uuid, "action", actor=HOSTILE, details={"action": "resume"}
        )
    page = operator.get(f"/workflows/{uuid}").text
    assert HOSTILE not in page
    newest = _events(page)[:2]
    assert newest == [
        ("action", HOSTILE, '{"action": "resume"}'),
        ("halted", "", '{"m": "<script>alert(1)</script>"}'),
    ]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_history_pages_go_back_with_a_cursor(operator, store):
    uuid = start_halted(store, "Ann")
    before = len(workflow_history(uuid, store))
    _add(store, uuid, 120)
    ids = [entry.id for entry in workflow_history(uuid, store)]
    first = operator.get(f"/workflows/{uuid}").text
    assert [d for _, _, d in _events(first)] == [
        f'{{"n": {n}}}' for n in range(119, 69, -1)
    ]
    older = re.search(r'href="([^"]*history_before=(\d+))#history"', first)
    assert older is not None
    assert int(older.group(2)) == ids[before + 70]
    second = operator.get(html.unescape(older.group(1))).text
    assert [d for _, _, d in _events(second)] == [
        f'{{"n": {n}}}' for n in range(69, 19, -1)
    ]
    assert f'href="/workflows/{uuid}#history">« Newest</a>' in second
    third_link = re.search(r'href="([^"]*history_before=\d+)#history"', second)
    third = operator.get(html.unescape(third_link.group(1))).text
    details = [d for _, _, d in _events(third)]
    assert details[:20] == [f'{{"n": {n}}}' for n in range(19, -1, -1)]
    assert len(details) == 20 + before
    assert "Older events" not in third


def test_object_page_shows_only_its_own_events(operator, store):
    result = start(
        "approval",
        [{"student": "Ann", "grade": 4}, {"student": "Bob", "grade": 5}],
        store,
        stop_on_halt=False,
    )
    _add(store, result.uuid, 2, position=0, start_at=0)
    _add(store, result.uuid, 2, position=1, start_at=10)
    _add(store, result.uuid, 1, position=None, start_at=20)
    page = operator.get(f"/objects/{object_id(store, result.uuid, 1)}").text
    mine = [d for e, _, d in _events(page) if e == "object_started" and '"n"' in d]
    assert mine == ['{"n": 11}', '{"n": 10}']


def test_a_workflow_without_events_says_so(operator, store):
    uuid = start_halted(store, "Ann")
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM workflow_history")
    assert "No events recorded." in operator.get(f"/workflows/{uuid}").text


def test_json_workflow_has_its_history_and_a_cursor(anonymous, store):
    anonymous.headers.update(AUTH)
    uuid = start_halted(store, "Ann")
    _add(store, uuid, 5, position=0)
    entries = workflow_history(uuid, store)
    answer = anonymous.get(f"/api/workflows/{uuid}?history_limit=3").json()
    assert [e["id"] for e in answer["history"]["events"]] == [
        entry.id for entry in reversed(entries[-3:])
    ]
    assert answer["history"]["events"][0] == entries[-1].to_dict()
    assert answer["history"]["older"] == entries[-3].id
    rest = anonymous.get(
        f"/api/workflows/{uuid}?history_before={entries[-3].id}&history_limit=200"
    ).json()["history"]
    assert [e["id"] for e in rest["events"]] == [
        entry.id for entry in reversed(entries[:-3])
    ]
    assert rest["older"] is None


def test_json_object_has_only_its_events(anonymous, store):
    anonymous.headers.update(AUTH)
    uuid = start_halted(store, "Ann")
    _add(store, uuid, 2, position=0)
    _add(store, uuid, 2, position=None)
    answer = anonymous.get(f"/api/objects/{object_id(store, uuid)}").json()
    expected = [e for e in workflow_history(uuid, store, position=0)]
    assert answer["history"] == {
        "events": [entry.to_dict() for entry in reversed(expected)],
        "older": None,
    }


@pytest.mark.parametrize("value", ["0", "-4", "x"])
def test_json_refuses_a_bad_cursor(anonymous, store, value):
    anonymous.headers.update(AUTH)
    uuid = start_halted(store, "Ann")
    response = anonymous.get(f"/api/workflows/{uuid}?history_before={value}")
    assert response.status_code == 400
    assert response.json() == {
        "error": "history_before must be an event id (1 or more)"
    }


def test_page_ignores_a_bad_cursor(operator, store):
    uuid = start_halted(store, "Ann")
    _add(store, uuid, 1)
    page = operator.get(f"/workflows/{uuid}?history_before=x").text
    assert _events(page)[0] == ("object_started", "", '{"n": 0}')


# -- actions recorded ------------------------------------------------------


def _choice(name: str, outcome: str, changed: bool, **more) -> dict:
    """The details of an "action" event of a halt action choice."""
    return {
        "action": "choice",
        "halt_action": "approval",
        "choice": name,
        "outcome": outcome,
        "data_changed": changed,
        **more,
    }


def test_approve_records_who_and_which_choice(operator, store):
    uuid = start_halted(store, "Ann")
    oid = object_id(store, uuid)
    _post(operator, f"/objects/{oid}/act/approve", f"/objects/{oid}")
    assert _actions(store, uuid) == [
        (
            0,
            "operator",
            {
                "action": "choice",
                "halt_action": "approval",
                "choice": "approve",
                "outcome": "resume",
                "data_changed": True,
            },
        )
    ]
    page = operator.get(f"/objects/{oid}").text
    assert ("action", "operator") in [(e, who) for e, who, _ in _events(page)]


def test_reject_records_the_reason_typed(operator, store):
    uuid = start_halted(store, "Ann")
    oid = object_id(store, uuid)
    _post(operator, f"/objects/{oid}/act/reject", f"/objects/{oid}", reason="too late")
    assert _actions(store, uuid) == [
        (
            0,
            "operator",
            _choice("reject", "resume", True, params={"reason": "too late"}),
        )
    ]


def test_a_choice_that_leaves_the_object_is_recorded(operator, store):
    uuid = start_halted(store, "Ann")
    oid = object_id(store, uuid)
    _post(operator, f"/objects/{oid}/act/note", f"/objects/{oid}", note="called")
    assert _actions(store, uuid) == [
        (0, "operator", _choice("note", "leave", True, params={"note": "called"}))
    ]


def test_a_choice_changing_nothing_is_recorded_too(store):
    actions = HaltActions()
    actions.register("approval", "look", lambda request: LEAVE)
    client = TestClient(
        create_app(store, get_user=lambda r: "Ann Lee", actions=actions)
    )
    uuid = start_halted(store, "Ann")
    oid = object_id(store, uuid)
    _post(client, f"/objects/{oid}/act/look", f"/objects/{oid}")
    assert _actions(store, uuid) == [(0, "Ann Lee", _choice("look", "leave", False))]


def test_resume_is_recorded_before_the_run(operator, store):
    uuid = start_halted(store, "Ann")
    _post(operator, f"/workflows/{uuid}/resume", f"/workflows/{uuid}")
    assert _actions(store, uuid) == [(None, "operator", {"action": "resume"})]


def test_restart_through_the_api_is_recorded_with_its_words(anonymous, store):
    anonymous.headers.update(AUTH)
    uuid = start_halted(store, "Ann")
    response = anonymous.post(
        f"/api/workflows/{uuid}/restart", json={"object": "current", "task": "next"}
    )
    assert response.status_code == 200
    assert _actions(store, uuid) == [
        (None, "operator", {"action": "restart", "object": "current", "task": "next"})
    ]


def test_a_long_user_name_is_cut_to_the_column(store):
    client = TestClient(create_app(store, get_user=lambda r: "x" * 300))
    uuid = start_halted(store, "Ann")
    _post(client, f"/workflows/{uuid}/resume", f"/workflows/{uuid}")
    assert _actions(store, uuid) == [(None, "x" * 255, {"action": "resume"})]


def test_refused_actions_are_not_recorded(operator, reader, store):
    uuid = start_halted(store, "Ann")
    oid = object_id(store, uuid)
    assert _post(reader, f"/objects/{oid}/act/approve", "/").status_code == 403
    assert _post(reader, f"/workflows/{uuid}/resume", "/").status_code == 403
    response = _post(
        operator, f"/workflows/{uuid}/restart", "/", object="last", task="first"
    )
    assert response.status_code == 400
    make_running(store, uuid, datetime.datetime.now(datetime.timezone.utc))
    assert _post(operator, f"/workflows/{uuid}/resume", "/").status_code == 409
    assert _post(operator, f"/workflows/{uuid}/restart", "/").status_code == 409
    assert _actions(store, uuid) == []


def test_delete_takes_the_history_with_it(operator, store):
    uuid = start_halted(store, "Ann")
    _add(store, uuid, 3)
    _post(operator, f"/workflows/{uuid}/delete", f"/workflows/{uuid}")
    assert workflow_history(uuid, store) == []


# -- taking over a dead run ------------------------------------------------


def test_running_workflow_page_offers_take_over_with_a_confirmation(operator, store):
    uuid = dead_run(store)
    page = operator.get(f"/workflows/{uuid}").text
    form = re.search(
        r'<form class="take-over" method="post" action="([^"]+)">(.*?)</form>',
        page,
        re.S,
    )
    assert form is not None
    assert form.group(1) == f"/workflows/{uuid}/take_over"
    assert 'name="confirm" value="yes" required' in form.group(2)
    assert 'name="csrf_token"' in form.group(2)
    assert "<dt>Heartbeat</dt>" in page
    ended = re.search(r'<dd class="lease">ended <time [^>]*>([^<]*)</time>', page)
    assert ended is not None
    assert ": the process running it is taken as gone</dd>" in page[ended.end() :][:60]


def test_take_over_is_not_offered_to_readers_nor_on_stopped_workflows(
    operator, reader, store
):
    dead = dead_run(store)
    halted = start_halted(store, "Bob")
    assert "take_over" not in reader.get(f"/workflows/{dead}").text
    assert "take_over" not in operator.get(f"/workflows/{halted}").text


def test_take_over_runs_the_dead_workflow_and_records_who(operator, store):
    uuid = dead_run(store)
    page = _post(
        operator, f"/workflows/{uuid}/take_over", f"/workflows/{uuid}", confirm="yes"
    )
    assert page.status_code == 200
    assert flash_of(page.text) == f"Workflow {uuid} is COMPLETED"
    assert object_row(store, uuid).status == ObjectStatus.COMPLETED.value
    assert object_row(store, uuid).data["recorded"] is True
    assert _actions(store, uuid) == [(None, "operator", {"action": "take_over"})]


def test_take_over_without_the_confirmation_is_refused(operator, store):
    uuid = dead_run(store)
    response = _post(operator, f"/workflows/{uuid}/take_over", f"/workflows/{uuid}")
    assert response.status_code == 400
    assert "Taking over needs your confirmation" in response.text
    assert _actions(store, uuid) == []
    assert object_row(store, uuid).status == ObjectStatus.RUNNING.value


def test_take_over_of_a_stopped_workflow_is_409(operator, store):
    uuid = start_halted(store, "Ann")
    response = _post(
        operator, f"/workflows/{uuid}/take_over", f"/workflows/{uuid}", confirm="yes"
    )
    assert response.status_code == 409
    assert (
        f"Workflow {uuid} is HALTED, not RUNNING: there is no run to take over"
        " (resume or restart it instead)"
    ) in response.text
    assert _actions(store, uuid) == []


def test_take_over_by_a_reader_is_403(reader, store):
    uuid = dead_run(store)
    response = _post(
        reader, f"/workflows/{uuid}/take_over", f"/workflows/{uuid}", confirm="yes"
    )
    assert response.status_code == 403
    assert f"You may not take over workflow {uuid}" in response.text
    assert _actions(store, uuid) == []


def test_take_over_needs_the_csrf_token(operator, store):
    uuid = dead_run(store)
    response = operator.post(
        f"/workflows/{uuid}/take_over", data={"confirm": "yes"}, follow_redirects=True
    )
    assert response.status_code == 403
    assert "CSRF" in response.text
    assert object_row(store, uuid).status == ObjectStatus.RUNNING.value


def test_take_over_of_a_live_run_is_refused(operator, store):
    uuid = dead_run(store)
    now = datetime.datetime.now(datetime.timezone.utc)
    make_running(store, uuid, now)
    page = operator.get(f"/workflows/{uuid}").text
    ends = now + store.lease
    assert (
        f'<dd class="lease">runs until <time datetime="{ends.isoformat()}">'
        f"{ends:%Y-%m-%d %H:%M:%S} UTC</time>: until then its process counts as"
        " alive, and a take-over is refused</dd>"
    ) in page
    response = _post(
        operator, f"/workflows/{uuid}/take_over", f"/workflows/{uuid}", confirm="yes"
    )
    assert response.status_code == 409
    assert (
        f"Workflow {uuid} is RUNNING in a process that may still be alive (its last"
        f" heartbeat was at {now:%Y-%m-%d %H:%M:%S} UTC): it can be taken over once"
        f" its lease ends, at {ends:%Y-%m-%d %H:%M:%S} UTC; it is not taken over"
    ) in response.text
    assert object_row(store, uuid).status == ObjectStatus.RUNNING.value
    # The request was made and refused by the run itself: the history says
    # who asked.
    assert _actions(store, uuid) == [(None, "operator", {"action": "take_over"})]


def test_take_over_through_the_api(anonymous, store):
    anonymous.headers.update(AUTH)
    uuid = dead_run(store)
    response = anonymous.post(f"/api/workflows/{uuid}/take_over")
    assert response.status_code == 200
    assert response.json()["status"] == "COMPLETED"
    assert _actions(store, uuid) == [(None, "operator", {"action": "take_over"})]


@pytest.mark.postgresql
def test_history_and_actions_on_postgresql(postgresql_url):
    with WorkflowStore(postgresql_url) as pg_store:
        pg_store.create_all()
        uuid = start_halted(pg_store, "Ann")
        _add(pg_store, uuid, 60, position=0)
        client = TestClient(create_app(pg_store, get_user=lambda r: "pat"))
        oid = object_id(pg_store, uuid)
        _post(client, f"/objects/{oid}/act/approve", f"/objects/{oid}")
        assert _actions(pg_store, uuid) == [
            (0, "pat", _choice("approve", "resume", True))
        ]
        page = client.get(f"/objects/{oid}").text
        assert ("action", "pat") in [(e, who) for e, who, _ in _events(page)]
        answer = client.get(f"/api/workflows/{uuid}?history_limit=10").json()
        older = answer["history"]["older"]
        rest = client.get(f"/api/workflows/{uuid}?history_before={older}").json()
        ids = [e["id"] for e in answer["history"]["events"] + rest["history"]["events"]]
        assert ids == sorted(ids, reverse=True)
        assert len(set(ids)) == len(ids)


def _rows(store: WorkflowStore, uuid: str) -> list[tuple]:
    """(event, position, actor, details) of every event, oldest first."""
    return [
        (entry.event, entry.position, entry.actor, entry.details)
        for entry in workflow_history(uuid, store)
    ]


def test_an_approval_leaves_the_whole_story_in_the_history(operator, store):
    uuid = start_halted(store, "Ann")
    oid = object_id(store, uuid)
    _post(operator, f"/objects/{oid}/act/approve", f"/objects/{oid}")
    assert _rows(store, uuid) == [
        ("created", None, None, None),
        ("started", None, None, None),
        (
            "halted",
            0,
            None,
            {"message": "Approve the grade of Ann?", "action": "approval"},
        ),
        ("action", 0, "operator", _choice("approve", "resume", True)),
        ("resumed", 0, None, None),
        ("completed", None, None, None),
    ]


def test_a_take_over_is_recorded_before_the_run_it_starts(operator, store):
    uuid = dead_run(store)
    _post(operator, f"/workflows/{uuid}/take_over", f"/workflows/{uuid}", confirm="yes")
    rows = _rows(store, uuid)
    assert [row[:3] for row in rows[3:]] == [
        ("action", None, "operator"),
        ("taken_over", 0, None),
        ("completed", None, None),
    ]
    assert rows[3][3] == {"action": "take_over"}
    taken = rows[4][3]
    assert (taken["as"], taken["previous"]["claim"]) == ("resumed", "0" * 36)
