"""Storage calls run in other processes by the storage tests.

Run as ``python -m tests.storage.run_storage COMMAND URL ARG``, it prints
the result as one JSON line:

* ``start URL NAME`` with the data as JSON on stdin;
* ``resume URL UUID``.

:func:`race_worker` is the body of the processes racing to resume.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import random
import sys
import time

from workflow.storage import (
    WorkflowBusyError,
    WorkflowStore,
    get_workflow,
    restart,
    resume,
    start,
)


def race_worker(url, uuid, rounds, barrier, results):
    """Resume ``uuid`` once per round, all racers starting each round together."""
    store = WorkflowStore(url)
    try:
        for round_number in range(rounds):
            barrier.wait(timeout=60)
            try:
                result = resume(uuid, store)
            except WorkflowBusyError:
                results.put((round_number, "busy"))
            else:
                results.put((round_number, result.status.name))
    finally:
        store.dispose()


CHAOS_LEASE = datetime.timedelta(seconds=0.5)
"""The lease of the chaos test's store: a killed owner is dead soon."""


def chaos_worker(url, uuid, seed, ready):
    """Resume, restart and take over ``uuid`` at random until killed.

    ``ready`` is set once the worker is working.

    Plain resumes and restarts of a RUNNING workflow are refused; a
    take-over waits for the lease; a forced resume cuts a live owner off.
    The parent kills workers at random moments. The workflow runs longer
    than the test lets the workers loose, so no restart runs a completed
    workflow again.
    """
    chooser = random.Random(seed)
    store = WorkflowStore(url, lease=CHAOS_LEASE)
    calls = [
        lambda number: resume(uuid, store, message_id=f"{os.getpid()}-{number}"),
        lambda number: resume(uuid, store, take_over=True),
        lambda number: resume(uuid, store, force=True),
        # The object at hand from the task it stopped at: on a HALTED
        # workflow, its halting task again (which halts only once).
        lambda number: (
            get_workflow(uuid, store).status.name == "HALTED"
            and restart(uuid, store, obj="current", task="current")
        ),
    ]
    try:
        number = 0
        ready.set()
        while True:
            number += 1
            with contextlib.suppress(WorkflowBusyError):
                chooser.choice(calls)(number)
            time.sleep(chooser.uniform(0, 0.05))
    finally:
        store.dispose()


def main(argv):
    command, url, argument = argv
    store = WorkflowStore(url)
    try:
        if command == "start":
            result = start(argument, json.load(sys.stdin), store)
        elif command == "resume":
            result = resume(argument, store)
        else:
            raise SystemExit(f"unknown command {command!r}; use start or resume")
        print(json.dumps(result.to_dict()))
    finally:
        store.dispose()


if __name__ == "__main__":
    main(sys.argv[1:])
