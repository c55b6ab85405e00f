"""Workflow definitions for the storage tests, imported by name in every process.

The tests name them by import path (``"tests.storage.wfdefs:REVIEW"``), so a
process that resumes a workflow finds its definition without registering it.
Every task counts its runs in the object's data, so the tests can tell how
often each object was processed.
"""

from __future__ import annotations

import os
import time

from workflow.patterns.controlflow import HALT, IF

READY_FILE_VARIABLE = "WORKFLOW_TEST_READY_FILE"


def bump(obj, eng):
    """Count one more run of this object."""
    obj.data["count"] = obj.data.get("count", 0) + 1


def note(letter):
    def add_note(obj, eng):
        obj.data.setdefault("log", []).append(letter)

    add_note.__name__ = add_note.__qualname__ = f"note_{letter}"
    return add_note


def halt_once(obj, eng):
    """Halt the first time each object gets here (the flag is saved with it)."""
    obj.data.setdefault("log", []).append("h")
    if not obj.data.get("halted"):
        obj.data["halted"] = True
        eng.halt(f"check object {obj.data['id']}", action="review")


def needs_review(obj, eng):
    return bool(obj.data.get("review"))


def finish(obj, eng):
    obj.data["done"] = True


def fail_if_asked(obj, eng):
    if obj.data.get("fail"):
        raise ValueError(f"bad item {obj.data['id']}\nsecond line")


def pause(obj, eng):
    """Sleep as long as the object asks (keeps a run busy for the race tests)."""
    time.sleep(obj.data.get("sleep", 0))


def hang_if_asked(obj, eng):
    """In a process told to, announce this object, then hang until killed."""
    ready_file = os.environ.get(READY_FILE_VARIABLE)
    if ready_file and obj.data.get("hang"):
        with open(ready_file, "w") as ready:
            ready.write(str(obj.data["id"]))
        time.sleep(120)


def count_in_engine(obj, eng):
    eng.extra_data["seen"] = eng.extra_data.get("seen", 0) + 1
    obj.extra_data["seen_as"] = eng.extra_data["seen"]


REVIEW = [bump, IF(needs_review, [HALT()]), finish]
"""Counts, halts the objects asking for review, then marks them done."""

RESTART = [note("a"), halt_once, note("c")]
"""Notes ``a``, halts each object once (noting ``h``), notes ``c``."""

FAILING = [bump, fail_if_asked, finish]
"""Counts, fails on the objects asking for it, then marks them done."""

RACE = [bump, pause, HALT()]
"""Counts, sleeps, then halts every object."""

HANG = [bump, hang_if_asked, finish]
"""Counts, hangs where asked (in a process told to), then marks done."""

ENGINE_DATA = [count_in_engine]
"""Counts objects in the engine's extra_data and each object's extra_data."""


def apply_counted(obj, eng):
    """Count this object's application in its data and in the engine's extra_data."""
    obj.data["applied"] = obj.data.get("applied", 0) + 1
    eng.extra_data["count"] = eng.extra_data.get("count", 0) + 1


def halt_if_marked(obj, eng):
    """Halt once the objects marked for review (the flag is saved with them)."""
    if obj.data.get("review") and not obj.data.get("halted"):
        obj.data["halted"] = True
        eng.halt(f"review object {obj.data['id']}", action="review")


CHAOS = [apply_counted, pause, halt_if_marked]
"""Counts each application, dawdles as asked, halts the marked objects once."""


def leave_as_is(obj, eng):
    """Touch nothing."""


KEEP = [leave_as_is]
"""Leaves every object as it is."""


INTERRUPTED_ONCE: set[tuple[str, int]] = set()
"""The (workflow uuid, position) pairs already interrupted in this process."""


def interrupt_once_if_asked(obj, eng):
    """The first time, stand for a Ctrl-C arriving while this object runs."""
    key = (eng.db_obj.uuid, obj.position)
    if obj.data.get("interrupt") and key not in INTERRUPTED_ONCE:
        INTERRUPTED_ONCE.add(key)
        raise KeyboardInterrupt


INTERRUPTING = [bump, interrupt_once_if_asked, finish]
"""Counts each run; an object with ``interrupt`` is interrupted once."""
