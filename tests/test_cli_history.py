"""``workflow show UUID --history``: a stored workflow's events, as text and JSON.

The command runs as a real subprocess. The history is written by the test
itself with :func:`~workflow.storage.record_event`, at fixed times, on a
workflow created but never run, so that the expected output is exact.
"""

# The expected tables are written out whole, one line per line of output.
# ruff: noqa: E501

from __future__ import annotations

import datetime
import json
import re

import pytest
from sqlalchemy import delete

from tests.cli_helpers import FLOWS, cli, started
from workflow.storage import (
    Registry,
    StoredWorkflowEngine,
    WorkflowStore,
    record_event,
    workflow_history,
)
from workflow.storage.models import HistoryRecord

T0 = datetime.datetime(2026, 12, 4, 19, 0, 0, 250000, tzinfo=datetime.timezone.utc)

HEADER = "time  event  position  actor  message id  details\n"


def _nothing(obj, eng):
    pass


def at(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


@pytest.fixture
def work(tmp_path):
    return tmp_path


@pytest.fixture
def store(work):
    store = WorkflowStore(f"sqlite:///{work}/wf.db")
    try:
        yield store
    finally:
        store.dispose()


def new_workflow(store, data=(6, 4, 2)):
    """A stored workflow of ``data`` that never ran, with an empty history."""
    registry = Registry()
    registry.register("grading", [_nothing])
    uuid = StoredWorkflowEngine.with_name(
        "grading", store, data=list(data), registry=registry
    ).uuid
    # Whatever storing it recorded goes: the test writes the whole history.
    with store.begin() as connection:
        connection.execute(
            delete(HistoryRecord).where(HistoryRecord.workflow_uuid == uuid)
        )
    return uuid


def record(store, uuid, events):
    with store.begin() as connection:
        for seconds, event, fields in events:
            record_event(connection, uuid, event, time=at(seconds), **fields)


@pytest.fixture
def halted_history(store):
    """A workflow whose history tells of a halt, an action and a resume."""
    uuid = new_workflow(store)
    record(
        store,
        uuid,
        [
            (0, "started", {"message_id": "a1b2-c3"}),
            (0.001, "object_started", {"position": 0}),
            (
                0.5,
                "object_finished",
                {"position": 0, "details": {"status": "COMPLETED"}},
            ),
            (0.5, "object_started", {"position": 1}),
            (
                1.75,
                "halted",
                {
                    "position": 1,
                    "details": {"message": "grade 4 fails", "action": "review"},
                },
            ),
            (
                3600,
                "action",
                {
                    "position": 1,
                    "actor": "Zack P. Hacker",
                    "details": {"action": "review", "choice": "accept"},
                },
            ),
            (3600.5, "resumed", {"actor": "Zack P. Hacker"}),
            (
                3601,
                "error",
                {"position": 2, "details": {"error": "ValueError: bad  grade\n"}},
            ),
        ],
    )
    return uuid


def test_history_prints_one_line_per_event_oldest_first(work, halted_history):
    done = cli("show", halted_history, "--history", cwd=work)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "time                         event            position  actor           message id  details\n"
        "2026-12-04 19:00:00.250 UTC  started                 -  -               a1b2-c3     -\n"
        "2026-12-04 19:00:00.251 UTC  object_started          0  -               -           -\n"
        "2026-12-04 19:00:00.750 UTC  object_finished         0  -               -           status=COMPLETED\n"
        "2026-12-04 19:00:00.750 UTC  object_started          1  -               -           -\n"
        '2026-12-04 19:00:02.000 UTC  halted                  1  -               -           message="grade 4 fails" action=review\n'
        "2026-12-04 20:00:00.250 UTC  action                  1  Zack P. Hacker  -           action=review choice=accept\n"
        "2026-12-04 20:00:00.750 UTC  resumed                 -  Zack P. Hacker  -           -\n"
        '2026-12-04 20:00:01.250 UTC  error                   2  -               -           error="ValueError: bad  grade\\n"\n'
    )


def test_history_of_one_object(work, halted_history):
    done = cli("show", halted_history[:8], "--history", "--object", "1", cwd=work)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "time                         event           position  actor           message id  details\n"
        "2026-12-04 19:00:00.750 UTC  object_started         1  -               -           -\n"
        '2026-12-04 19:00:02.000 UTC  halted                 1  -               -           message="grade 4 fails" action=review\n'
        "2026-12-04 20:00:00.250 UTC  action                 1  Zack P. Hacker  -           action=review choice=accept\n"
    )


def test_history_as_json_is_the_entries_to_dict(work, store, halted_history):
    done = cli("show", halted_history, "--history", "--object", "1", "--json", cwd=work)
    assert (done.returncode, done.stderr) == (0, "")
    events = json.loads(done.stdout)
    assert [{k: v for k, v in e.items() if k != "id"} for e in events] == [
        {
            "workflow_uuid": halted_history,
            "time": "2026-12-04T19:00:00.750000+00:00",
            "event": "object_started",
            "position": 1,
            "actor": None,
            "message_id": None,
            "details": None,
        },
        {
            "workflow_uuid": halted_history,
            "time": "2026-12-04T19:00:02+00:00",
            "event": "halted",
            "position": 1,
            "actor": None,
            "message_id": None,
            "details": {"message": "grade 4 fails", "action": "review"},
        },
        {
            "workflow_uuid": halted_history,
            "time": "2026-12-04T20:00:00.250000+00:00",
            "event": "action",
            "position": 1,
            "actor": "Zack P. Hacker",
            "message_id": None,
            "details": {"action": "review", "choice": "accept"},
        },
    ]
    ids = [event["id"] for event in events]
    assert ids == sorted(ids)
    assert done.stdout.count("\n") == 1


def test_history_lists_the_latest_events_and_says_how_to_see_more(work, store):
    uuid = new_workflow(store, data=range(30))
    record(
        store,
        uuid,
        [
            (position, "object_started", {"position": position})
            for position in range(25)
        ],
    )
    done = cli("show", uuid, "--history", cwd=work)
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert len(lines) == 1 + 20 + 2
    assert lines[1] == (
        "2026-12-04 19:00:05.250 UTC  object_started         5  -      -           -"
    )
    assert lines[20] == (
        "2026-12-04 19:00:24.250 UTC  object_started        24  -      -           -"
    )
    assert lines[21:] == [
        "",
        "the last 20 events shown: --limit N shows more (0: all),"
        " --object POSITION one object's",
    ]
    one = cli("show", uuid, "--history", "--limit", "1", cwd=work)
    assert one.stdout.splitlines()[1:] == [
        "2026-12-04 19:00:24.250 UTC  object_started        24  -      -           -",
        "",
        "the last 1 event shown: --limit N shows more (0: all),"
        " --object POSITION one object's",
    ]
    every = cli("show", uuid, "--history", "--limit", "0", cwd=work)
    assert len(every.stdout.splitlines()) == 1 + 25
    exact = cli("show", uuid, "--history", "--limit", "25", cwd=work)
    assert exact.stdout == every.stdout
    as_json = cli("show", uuid, "--history", "--limit", "3", "--json", cwd=work)
    assert [e["position"] for e in json.loads(as_json.stdout)] == [22, 23, 24]


def test_history_of_a_workflow_without_events_is_the_header(work, store):
    uuid = new_workflow(store)
    done = cli("show", uuid, "--history", cwd=work)
    assert (done.returncode, done.stdout, done.stderr) == (0, HEADER, "")
    as_json = cli("show", uuid, "--history", "--json", cwd=work)
    assert (as_json.returncode, as_json.stdout) == (0, "[]\n")


def test_history_of_a_position_the_workflow_lacks_is_refused(work, store):
    uuid = new_workflow(store)
    done = cli("show", uuid, "--history", "--object", "3", cwd=work)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"workflow: error: Workflow {uuid} has no object at position 3:"
        " it has positions 0 to 2\n"
    )


def test_history_refuses_status(work, store):
    uuid = new_workflow(store)
    done = cli("show", uuid, "--history", "--status", "halted", cwd=work)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "workflow: error: --status picks objects to list, not events: drop it,"
        " or use --object POSITION for one object's events\n"
    )


def test_history_of_an_unknown_workflow(work, store):
    new_workflow(store)
    done = cli("show", "0123abcd", "--history", cwd=work)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "workflow: error: no workflow with uuid '0123abcd' in this database"
        " (see `workflow list`)\n"
    )


# -- end to end: the events a real run writes -------------------------------------

TIME = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} UTC"


def test_history_of_a_run_halted_twice_and_resumed_is_what_the_store_wrote(tmp_path):
    (tmp_path / "flows.py").write_text(FLOWS)
    (tmp_path / "grades.jsonl").write_text("6\n4\n2\n")
    uuid = started(tmp_path)
    resumed = cli("resume", uuid, cwd=tmp_path)
    assert resumed.returncode == 3
    shown = cli("show", uuid, "--history", "--limit", "0", cwd=tmp_path)
    assert (shown.returncode, shown.stderr) == (0, "")
    lines = shown.stdout.splitlines()
    assert lines[0].split() == [
        "time",
        "event",
        "position",
        "actor",
        "message",
        "id",
        "details",
    ]
    assert all(re.match(TIME, line) for line in lines[1:])
    assert [re.sub(TIME, "T", line).split(None, 5) for line in lines[1:]] == [
        ["T", "created", "-", "-", "-", "-"],
        ["T", "started", "-", "-", "-", "-"],
        ["T", "halted", "1", "-", "-", 'message="grade 4 fails" action=null'],
        ["T", "resumed", "1", "-", "-", "-"],
        ["T", "halted", "2", "-", "-", 'message="grade 2 fails" action=null'],
    ]
    as_json = cli("show", uuid, "--history", "--limit", "0", "--json", cwd=tmp_path)
    with WorkflowStore(f"sqlite:///{tmp_path}/wf.db") as store:
        assert json.loads(as_json.stdout) == [
            entry.to_dict() for entry in workflow_history(uuid, store)
        ]
