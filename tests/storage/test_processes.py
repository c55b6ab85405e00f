"""Stored workflows across processes: hand-over, races, and a killed process."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workflow.engine_db import ObjectStatus, WorkflowStatus
from workflow.storage import (
    WorkflowBusyError,
    get_workflow,
    list_objects,
    list_workflows,
    resume,
    start,
)

from . import run_storage, wfdefs

REPO_ROOT = Path(__file__).resolve().parents[2]
PROCESS_TIMEOUT = 60


def child_environment(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    env.update(extra)
    return env


def run_child(*args, stdin=""):
    """Run ``tests.storage.run_storage`` in a new process; return its result."""
    completed = subprocess.run(
        [sys.executable, "-m", "tests.storage.run_storage", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=child_environment(),
        timeout=PROCESS_TIMEOUT,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_a_workflow_halted_in_one_process_resumes_in_another(store, store_url):
    data = [{"id": 0}, {"id": 1, "review": True}, {"id": 2}]
    halted = run_child(
        "start", store_url, "tests.storage.wfdefs:REVIEW", stdin=json.dumps(data)
    )
    assert {key: halted[key] for key in ("status", "halted_message", "error")} == {
        "status": "HALTED",
        "halted_message": "",
        "error": None,
    }
    resumed = run_child("resume", store_url, halted["uuid"])
    assert resumed == {
        "uuid": halted["uuid"],
        "name": "tests.storage.wfdefs:REVIEW",
        "status": "COMPLETED",
        "halted_message": None,
        "error": None,
        "replayed": False,
    }
    assert [info.data for info in list_objects(halted["uuid"], store)] == [
        {"id": 0, "count": 1, "done": True},
        {"id": 1, "review": True, "count": 1, "done": True},
        {"id": 2, "count": 1, "done": True},
    ]


RACE_ROUNDS = 10


@pytest.mark.timeout(120)
def test_of_two_processes_resuming_at_once_exactly_one_runs(store, store_url):
    data = [{"id": index, "sleep": 0.15} for index in range(RACE_ROUNDS + 1)]
    halted = start("tests.storage.wfdefs:RACE", data, store)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    racers = [
        context.Process(
            target=run_storage.race_worker,
            args=(store_url, halted.uuid, RACE_ROUNDS, barrier, results),
        )
        for _ in range(2)
    ]
    for racer in racers:
        racer.start()
    try:
        outcomes = [
            results.get(timeout=PROCESS_TIMEOUT) for _ in range(2 * RACE_ROUNDS)
        ]
        for racer in racers:
            racer.join(timeout=PROCESS_TIMEOUT)
            assert racer.exitcode == 0
    finally:
        for racer in racers:
            if racer.is_alive():
                racer.kill()
                racer.join()
    by_round = {
        round_number: sorted(
            outcome for number, outcome in outcomes if number == round_number
        )
        for round_number in range(RACE_ROUNDS)
    }
    assert by_round == {
        round_number: ["HALTED", "busy"] for round_number in range(RACE_ROUNDS)
    }
    counts = [info.data["count"] for info in list_objects(halted.uuid, store)]
    assert counts == [1] * (RACE_ROUNDS + 1)


@pytest.mark.timeout(120)
def test_a_process_killed_mid_object_leaves_consistent_rows(store, store_url, tmp_path):
    ready_file = tmp_path / "ready"
    data_file = tmp_path / "data.json"
    output_file = tmp_path / "child.log"
    data = [{"id": 0}, {"id": 1}, {"id": 2, "hang": True}, {"id": 3}]
    data_file.write_text(json.dumps(data))
    with open(data_file) as stdin, open(output_file, "w") as output:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.storage.run_storage",
                "start",
                store_url,
                "tests.storage.wfdefs:HANG",
            ],
            stdin=stdin,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            env=child_environment(**{wfdefs.READY_FILE_VARIABLE: str(ready_file)}),
        )
    try:
        deadline = time.monotonic() + PROCESS_TIMEOUT
        while not ready_file.exists():
            assert child.poll() is None, output_file.read_text()
            assert time.monotonic() < deadline, "the child never reached object 2"
            time.sleep(0.02)
    finally:
        child.kill()
        child.wait(timeout=PROCESS_TIMEOUT)
    assert child.returncode == -9

    (info,) = list_workflows(store)
    assert info.status is WorkflowStatus.RUNNING
    objects = list_objects(info.uuid, store)
    assert [(o.status, o.data, o.callback_pos) for o in objects] == [
        (ObjectStatus.COMPLETED, {"id": 0, "count": 1, "done": True}, [2]),
        (ObjectStatus.COMPLETED, {"id": 1, "count": 1, "done": True}, [2]),
        (ObjectStatus.RUNNING, {"id": 2, "hang": True}, [0]),
        (ObjectStatus.INITIAL, {"id": 3}, [0]),
    ]
    with pytest.raises(WorkflowBusyError):
        resume(info.uuid, store)

    result = resume(info.uuid, store, force=True)
    assert result.status is WorkflowStatus.COMPLETED
    assert [(o.status, o.data) for o in list_objects(info.uuid, store)] == [
        (ObjectStatus.COMPLETED, {"id": 0, "count": 1, "done": True}),
        (ObjectStatus.COMPLETED, {"id": 1, "count": 1, "done": True}),
        (ObjectStatus.COMPLETED, {"id": 2, "hang": True, "count": 1, "done": True}),
        (ObjectStatus.COMPLETED, {"id": 3, "count": 1, "done": True}),
    ]
    assert get_workflow(info.uuid, store).status is WorkflowStatus.COMPLETED
