"""Running the ``workflow`` command line in tests: a subprocess per command.

Shared by the command-line test modules (a test module never imports
another one).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

TIMEOUT = 60
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

FLOWS = """
import time

from workflow.patterns.controlflow import IF, HALT


def failing_grade(obj, eng):
    return obj.data < 5


def retake(obj, eng):
    eng.halt(f"grade {obj.data} fails")


def explode(obj, eng):
    if obj.data == 2:
        raise ValueError("bad grade")


def nothing(obj, eng):
    pass


def pause(obj, eng):
    time.sleep(0.15)


def logged_pause(obj, eng):
    with open("ran.txt", "a") as ran:
        ran.write(f"{obj.data} ")
    time.sleep(0.05)


halting = [IF(failing_grade, [retake])]
failing = [nothing, explode]
completing = [nothing]
slow = [pause]
logged_slow = [logged_pause]
plain_halt = [HALT()]
not_a_definition = 42
empty = []
not_tasks = [nothing, 1]


def long_halt(obj, eng):
    eng.halt("a very long halt message " * 4)


long_halting = [long_halt]


def ask(obj, eng):
    eng.halt("needs review", action="review", payload={"grade": obj.data})


asking = [ask]


def note_a(obj, eng):
    with open("notes.txt", "a") as notes:
        notes.write(f"a{obj.data} ")


def note_b(obj, eng):
    with open("notes.txt", "a") as notes:
        notes.write(f"b{obj.data} ")


noting = [note_a, note_b]


class Grading:
    workflow = [nothing]
"""


def cli(*args, cwd, stdin=None, env=None, db=True):
    """Run ``python -m workflow ARGS`` in ``cwd``, on ``cwd/wf.db`` by default."""
    command = [sys.executable, "-m", "workflow", *args]
    if db:
        command += ["--db", f"sqlite:///{cwd}/wf.db"]
    full_env = dict(os.environ)
    full_env.pop("WORKFLOW_DB", None)
    full_env.update(env or {})
    return subprocess.run(
        command,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=full_env,
        check=False,
    )


def started(work, definition="flows:halting", data="grades.jsonl"):
    """Run ``definition`` over ``data`` and return the new workflow's uuid."""
    return uuid_of(cli("run", definition, "--data", data, cwd=work).stdout)


def uuid_of(stdout):
    return re.search(rf"^uuid: ({UUID})$", stdout, re.MULTILINE).group(1)
