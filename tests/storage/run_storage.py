"""Storage calls run in other processes by the storage tests.

Run as ``python -m tests.storage.run_storage COMMAND URL ARG``, it prints
the result as one JSON line:

* ``start URL NAME`` with the data as JSON on stdin;
* ``resume URL UUID``.

:func:`race_worker` is the body of the processes racing to resume.
"""

from __future__ import annotations

import json
import sys

from workflow.storage import WorkflowBusyError, WorkflowStore, resume, start


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
