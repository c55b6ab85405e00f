"""A randomized race: processes resume, restart and take over one workflow.

:data:`RACERS` processes keep sending "messages" to one stored workflow
while it runs: resumes, take-overs of a run whose owner's lease expired
(``take_over=True``, with a lease of :data:`LEASE`), forced take-overs of a
run that may well be alive (``force=True``) and restarts, each with a
message id of its own. Meanwhile the test SIGKILLs racers at random
moments and starts a replacement that delivers the killed racer's
unfinished message again, with the same message id, as a broker redelivers
the message of a dead worker; a transient database error makes a racer
retry its message, as a Celery task retries. At the end the test takes the
workflow over and resumes it until it completes, then checks what every
run left:

* every object's data lists the messages whose runs applied it, and no
  message applied an object twice (a take-over or a redelivery never runs a
  committed object again, a redelivered restart does not restart again);
* the engine's ``extra_data`` counter equals the number of applications
  (no update of it was lost to a take-over);
* no message went past a halt it produced (a halt is passed only by a later
  resume asking for it);
* no racer met an error other than "busy" or a transient database error.

The choices (actions, objects, pauses, kills) come from a seeded generator;
the seed is printed, and ``WORKFLOW_RACE_SEED=<seed>`` replays the same
choices (the timing of the processes still varies from run to run).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy.exc

from workflow.engine_db import ObjectStatus, WorkflowStatus
from workflow.storage import (
    WorkflowBusyError,
    WorkflowStore,
    get_workflow,
    list_objects,
    restart,
    resume,
    start,
)

DEFINITION = f"{__name__}:RACE"
RACERS = 4
OBJECTS = 14
GATES = (4, 9)
CHAOS_SECONDS = 20.0
KILL_INTERVAL = (0.1, 0.5)
# How often a kill picks a racer in the middle of a message, when there is one.
IN_FLIGHT_KILLS = 0.8
TRANSIENT_RETRIES = 20
# Short enough that take_over=True meets expired leases (of killed racers,
# and of live ones slowed down by the others).
LEASE = datetime.timedelta(seconds=1)
FINAL_RESUMES = 3 * OBJECTS

# The message the process is running: what the tasks record.
_current: dict[str, str] = {"message": "start"}


def gate(obj: Any, eng: Any) -> None:
    """Halt on a gate object, every time a run reaches this task there."""
    if obj.data["gate"]:
        obj.extra_data.setdefault("halted_by", []).append(_current["message"])
        eng.halt(f"gate {obj.data['i']}")


def apply(obj: Any, eng: Any) -> None:
    """The work: record the run's message in the object, count it in the engine."""
    time.sleep(obj.data["pause"])
    obj.data["applied"].append(_current["message"])
    eng.extra_data["applied"] = eng.extra_data.get("applied", 0) + 1


RACE = [gate, apply]


def race_data(rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "i": i,
            "gate": i in GATES,
            "pause": rng.choice((0.0, 0.005, 0.02, 0.05)),
            "applied": [],
        }
        for i in range(OBJECTS)
    ]


# -- the racers ---------------------------------------------------------------


def _journal(fd: int, **entry: Any) -> None:
    # One write per line, straight to the file: a SIGKILL loses nothing of it.
    os.write(fd, (json.dumps(entry) + "\n").encode())


def _is_transient(exc: BaseException) -> bool:
    return isinstance(
        exc, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.TimeoutError)
    )


def _deliver(store: WorkflowStore, uuid: str, message: dict[str, Any], fd: int) -> None:
    """Run one message to its end, retrying transient database errors."""
    _current["message"] = message["id"]
    _journal(fd, event="begin", **message)
    for attempt in range(TRANSIENT_RETRIES + 1):
        try:
            if message["action"] == "restart":
                result = restart(
                    uuid,
                    store,
                    obj=message["obj"],
                    task="first",
                    take_over=message["take_over"],
                    force=message["force"],
                    message_id=message["id"],
                )
            else:
                result = resume(
                    uuid,
                    store,
                    take_over=message["take_over"],
                    force=message["force"],
                    message_id=message["id"],
                )
        except WorkflowBusyError:
            outcome = "busy"
        except Exception as exc:
            if _is_transient(exc) and attempt < TRANSIENT_RETRIES:
                time.sleep(0.01 * (attempt + 1))
                continue
            outcome = f"unexpected {type(exc).__name__}: {exc}"
        else:
            outcome = result.status.name + (" replayed" if result.replayed else "")
        _journal(fd, event="end", id=message["id"], outcome=outcome, retries=attempt)
        return


def racer(
    url: str,
    uuid: str,
    journal: str,
    stop_file: str,
    seed: str,
    redelivery: dict[str, Any] | None,
) -> None:
    """Send messages to ``uuid`` until ``stop_file`` exists.

    :param redelivery: a message of a killed racer, delivered first.
    """
    rng = random.Random(seed)
    store = WorkflowStore(url, lease=LEASE)
    fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        if redelivery is not None:
            _deliver(store, uuid, {**redelivery, "redelivered": True}, fd)
        number = 0
        while not os.path.exists(stop_file):
            number += 1
            action = rng.choice(
                ("resume", "resume", "take_over", "take_over", "force", "restart")
            )
            message = {
                "id": f"{seed}-{number}",
                "action": "restart" if action == "restart" else "resume",
                "take_over": action == "take_over" or rng.random() < 0.3,
                "force": action == "force",
                "obj": rng.choice(("first", "current", "prev")),
            }
            _deliver(store, uuid, message, fd)
            time.sleep(rng.choice((0.0, 0.01, 0.05)))
    finally:
        os.close(fd)
        store.dispose()


def _read_journal(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    # A kill may cut the last line short.
    entries = []
    for line in lines:
        with contextlib.suppress(json.JSONDecodeError):
            entries.append(json.loads(line))
    return entries


def _unfinished(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    ended = {entry["id"] for entry in entries if entry["event"] == "end"}
    begun = [entry for entry in entries if entry["event"] == "begin"]
    if begun and begun[-1]["id"] not in ended:
        message = dict(begun[-1])
        del message["event"]
        message.pop("redelivered", None)
        return message
    return None


# -- the test -----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_racing_resumes_restarts_and_take_overs_with_kills(
    store: WorkflowStore, store_url: str, tmp_path: Path
) -> None:
    seed = int(os.environ.get("WORKFLOW_RACE_SEED", random.randrange(1 << 32)))
    print(f"race seed {seed} (rerun with WORKFLOW_RACE_SEED={seed})")
    rng = random.Random(seed)
    # What this process's runs record (a run of the previous test may have
    # left its own message here).
    _current["message"] = "start"
    started = start(DEFINITION, race_data(rng), store)
    uuid = started.uuid
    assert started.status is WorkflowStatus.HALTED

    # Racers fork from a server process that imported this module once: a
    # replacement racer starts in milliseconds, not in an import's time.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    stop_file = tmp_path / "stop"
    journals: list[Path] = []
    processes: dict[int, Any] = {}
    generation = Counter[int]()

    def launch(slot: int, redelivery: dict[str, Any] | None) -> None:
        generation[slot] += 1
        journal = tmp_path / f"racer-{slot}-{generation[slot]}.jsonl"
        journals.append(journal)
        process = context.Process(
            target=racer,
            args=(
                store_url,
                uuid,
                str(journal),
                str(stop_file),
                f"{seed}-{slot}-{generation[slot]}",
                redelivery,
            ),
        )
        process.start()
        processes[slot] = (process, journal)

    kills = 0
    try:
        for slot in range(RACERS):
            launch(slot, None)
        deadline = time.monotonic() + CHAOS_SECONDS
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(*KILL_INTERVAL))
            in_flight = [
                slot
                for slot, (_, journal) in sorted(processes.items())
                if _unfinished(_read_journal(journal)) is not None
            ]
            if in_flight and rng.random() < IN_FLIGHT_KILLS:
                slot = rng.choice(in_flight)
            else:
                slot = rng.randrange(RACERS)
            process, journal = processes[slot]
            os.kill(process.pid, signal.SIGKILL)
            process.join(30)
            kills += 1
            launch(slot, _unfinished(_read_journal(journal)))
        stop_file.touch()
        for process, _ in processes.values():
            process.join(60)
            assert process.exitcode == 0
    finally:
        for process, _ in processes.values():
            if process.is_alive():
                process.kill()
                process.join()

    # Recovery: whatever the last kill left, take it over and finish it.
    for number in range(FINAL_RESUMES):
        _current["message"] = f"final-{number}"
        result = resume(uuid, store, force=True, message_id=_current["message"])
        if result.status is WorkflowStatus.COMPLETED:
            break
    assert get_workflow(uuid, store).status is WorkflowStatus.COMPLETED

    entries = [entry for journal in journals for entry in _read_journal(journal)]
    outcomes = Counter(
        entry["outcome"].split(":")[0] for entry in entries if entry["event"] == "end"
    )
    redelivered = sum(1 for entry in entries if entry.get("redelivered"))
    print(f"race: {kills} kills, {redelivered} redeliveries, outcomes {dict(outcomes)}")
    assert [o for o in outcomes if o.startswith("unexpected")] == []
    assert kills > 0 and redelivered > 0

    objects = list_objects(uuid, store)
    assert {o.status for o in objects} == {ObjectStatus.COMPLETED}
    applications = 0
    for obj in objects:
        applied = obj.data["applied"]
        # Applied once per message: no run, taken over or redelivered,
        # applied a committed object again.
        duplicates = [m for m, n in Counter(applied).items() if n > 1]
        assert duplicates == [], (obj.position, applied)
        applications += len(applied)
    # No increment of the engine's extra_data was lost or doubled.
    engine_extra = _engine_extra_data(store, uuid)
    assert engine_extra["applied"] == applications
    # A message that halted at a gate never went on past it: only a later
    # resume, another message, did.
    for gate_object in (objects[g] for g in GATES):
        halted_by = set(gate_object.extra_data.get("halted_by", []))
        assert halted_by, f"gate {gate_object.position} never halted"
        for later in objects[gate_object.position :]:
            assert halted_by.isdisjoint(later.data["applied"]), (
                gate_object.position,
                later.position,
                halted_by & set(later.data["applied"]),
            )


def _engine_extra_data(store: WorkflowStore, uuid: str) -> dict[str, Any]:
    with store.connect() as connection:
        value = connection.execute(
            sqlalchemy.text(
                "SELECT extra_data FROM workflow_workflow WHERE uuid = :uuid"
            ),
            {"uuid": uuid},
        ).scalar_one()
    return json.loads(value) if isinstance(value, str) else dict(value)
