"""PARALLEL_SPLIT and SYNCHRONIZE: real threads, synchronised with events.

Every wait has a timeout and every test has a pytest timeout, so a broken
pattern fails instead of hanging the suite.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from workflow.engine import GenericWorkflowEngine
from workflow.errors import WorkflowError
from workflow.patterns.controlflow import (
    PARALLEL_SPLIT,
    SYNCHRONIZE,
    TASK_JUMP_FWD,
)

from .support import Recorder, run

WAIT = 10
LOCK_TYPE = type(threading.Lock())

pytestmark = pytest.mark.timeout(60)


class NeedsArgument(GenericWorkflowEngine):
    def __init__(self, db_obj):
        super().__init__()
        self.db_obj = db_obj


def waiting_for(event, name, recorder, done=None):
    """A task that records itself once ``event`` is set, then sets ``done``."""

    def _wait(obj, eng):
        if not event.wait(WAIT):
            raise AssertionError(f"{name} waited in vain")
        recorder.task(name)(obj, eng)
        eng_info[name] = (
            type(eng),
            eng.extra_data.get("lock"),
            threading.current_thread().daemon,
        )
        if done is not None:
            done.set()

    eng_info = {}
    _wait.info = eng_info
    return _wait


# --------------------------------------------------------------------------
# PARALLEL_SPLIT


def test_parallel_split_starts_branches_without_waiting(engine_class, rec):
    go = threading.Event()
    done = [threading.Event(), threading.Event()]
    first = waiting_for(go, "b1", rec, done[0])
    second = waiting_for(go, "b2", rec, done[1])

    def parent_goes_on(obj, eng):
        rec.task("parent")(obj, eng)
        go.set()

    eng = run(engine_class, [PARALLEL_SPLIT(first, [second]), parent_goes_on], ["o"])
    assert all(event.wait(WAIT) for event in done)
    assert rec.calls[0] == ("o", "parent")
    assert sorted(rec.names()[1:]) == ["b1", "b2"]
    lock = eng.extra_data["lock"]
    assert isinstance(lock, LOCK_TYPE)
    assert first.info["b1"] == (engine_class, lock, True)
    assert second.info["b2"] == (engine_class, lock, True)


def test_parallel_split_jumps_stay_in_the_branch(engine_class, rec):
    done = threading.Event()
    branch = [
        rec.task("a"),
        TASK_JUMP_FWD(2),
        rec.task("skipped"),
        rec.task("b", lambda o, e: done.set()),
    ]
    run(engine_class, [PARALLEL_SPLIT(branch)], ["o"])
    assert done.wait(WAIT)
    assert rec.names() == ["a", "b"]


def test_nested_parallel_splits_run_every_branch(engine_class, rec):
    events = {name: threading.Event() for name in ("x", "y", "z")}

    def branch(name):
        return rec.task(name, lambda o, e: events[name].set())

    run(
        engine_class,
        [PARALLEL_SPLIT(PARALLEL_SPLIT(branch("x"), branch("y")), branch("z"))],
        ["o"],
    )
    assert all(event.wait(WAIT) for event in events.values())
    assert sorted(rec.names()) == ["x", "y", "z"]


def test_parallel_split_branches_share_the_object_not_the_engine(engine_class):
    # Section 12 fix 14.
    done = threading.Event()

    def branch(obj, eng):
        obj["from_branch"] = True
        eng.extra_data["branch_only"] = True
        done.set()

    obj = {}
    eng = run(engine_class, [PARALLEL_SPLIT([branch])], [obj])
    assert done.wait(WAIT)
    assert obj == {"from_branch": True}
    assert "branch_only" not in eng.extra_data


class FailingBranchEngine(GenericWorkflowEngine):
    """Own class, so its logger is its own."""


def test_parallel_split_logs_a_failing_branch_on_the_parent_logger():
    logged = []
    emitted = threading.Event()

    class Collect(logging.Handler):
        def emit(self, record):
            logged.append(record)
            emitted.set()

    def fail(obj, eng):
        raise ValueError("branch broke")

    eng = FailingBranchEngine()
    handler = Collect(level=logging.ERROR)
    eng.log.addHandler(handler)
    try:
        eng.callbacks.replace([PARALLEL_SPLIT(fail)])
        eng.process(["o"])
        assert emitted.wait(WAIT)
    finally:
        eng.log.removeHandler(handler)
    [record] = logged
    assert record.name == eng.log.name
    assert record.getMessage() == "PARALLEL_SPLIT: branch 1 failed"
    assert record.exc_info[0] is ValueError
    assert str(record.exc_info[1]) == "branch broke"


def test_parallel_split_needs_a_constructible_engine_class():
    eng = NeedsArgument("db")
    eng.callbacks.replace([PARALLEL_SPLIT(lambda o, e: None)])
    with pytest.raises(WorkflowError, match="constructible without arguments"):
        eng.process(["o"])


# --------------------------------------------------------------------------
# SYNCHRONIZE


def test_synchronize_runs_branches_at_once_then_the_last(engine_class, rec):
    # Section 12 fix 3: every branch runs once, truly at the same time (the
    # barrier only opens with all three inside), and the last task runs
    # after them.
    barrier = threading.Barrier(3, timeout=WAIT)
    counts = {"task": 0, "list": 0, "tuple": 0}

    def branch(name):
        def _branch(obj, eng):
            counts[name] += 1
            barrier.wait()
            rec.task(name)(obj, eng)

        return _branch

    def last(obj, eng):
        rec.task("last")(obj, eng)

    definition = [
        SYNCHRONIZE(branch("task"), [branch("list")], (branch("tuple"),), last),
        rec.task("after"),
    ]
    run(engine_class, definition, ["o"])
    assert counts == {"task": 1, "list": 1, "tuple": 1}
    assert sorted(rec.names()[:3]) == ["list", "task", "tuple"]
    assert rec.names()[3:] == ["last", "after"]


def test_synchronize_timeout_raises_not_finished_promptly(engine_class):
    release = threading.Event()
    ended = threading.Event()

    def slow(obj, eng):
        release.wait(WAIT)
        ended.set()

    eng = engine_class()
    eng.callbacks.replace([SYNCHRONIZE(slow, lambda o, e: None, timeout=0.2)])
    started = time.monotonic()
    try:
        with pytest.raises(threading.ThreadError) as info:
            eng.process(["o"])
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert info.value.args == ("NotFinished",)
    assert elapsed < WAIT / 2
    assert ended.wait(WAIT)


def test_synchronize_raises_the_first_failing_branch_in_argument_order(
    engine_class, rec
):
    second_failed = threading.Event()

    def first(obj, eng):
        # Fails only after the second branch has failed, so the second
        # failure comes first in time but not in argument order.
        assert second_failed.wait(WAIT)
        raise ValueError("first")

    def second(obj, eng):
        try:
            raise KeyError("second")
        finally:
            second_failed.set()

    eng = engine_class()
    eng.callbacks.replace([SYNCHRONIZE(first, second, rec.task("last"))])
    with pytest.raises(ValueError, match="first"):
        eng.process(["o"])
    assert rec.names() == []


def test_synchronize_waits_for_all_branches_before_raising(engine_class):
    failed = threading.Event()
    late_done = threading.Event()

    def fail(obj, eng):
        try:
            raise RuntimeError("early")
        finally:
            failed.set()

    def late(obj, eng):
        # Ends well after the failure: a caller that did not wait for every
        # branch would raise before this.
        assert failed.wait(WAIT)
        time.sleep(0.05)
        late_done.set()

    eng = engine_class()
    eng.callbacks.replace([SYNCHRONIZE(fail, late, lambda o, e: None)])
    with pytest.raises(RuntimeError, match="early"):
        eng.process(["o"])
    assert late_done.is_set()


def test_synchronize_blocks_run_in_new_engines_of_the_callers_class(engine_class):
    # Section 12 fix 14: a block branch has its own engine state.
    seen = []

    def where(obj, eng):
        seen.append((type(eng), eng))
        eng.extra_data["branch_only"] = True
        obj.append(len(seen))

    eng = engine_class()
    eng.callbacks.replace([SYNCHRONIZE([where], [where])])
    obj = []
    eng.process([obj])
    assert sorted(obj) == [1, 2]
    assert [cls for cls, _ in seen] == [engine_class, engine_class]
    assert all(sub is not eng for _, sub in seen)
    assert seen[0][1] is not seen[1][1]
    assert "branch_only" not in eng.extra_data


def test_synchronize_task_branches_get_the_calling_engine(engine_class):
    seen = []
    eng = engine_class()
    eng.callbacks.replace(
        [SYNCHRONIZE(lambda o, e: seen.append(e), lambda o, e: seen.append(e))]
    )
    eng.process(["o"])
    assert seen == [eng, eng]


def test_synchronize_needs_a_constructible_engine_class():
    eng = NeedsArgument("db")
    eng.callbacks.replace([SYNCHRONIZE([lambda o, e: None], lambda o, e: None)])
    with pytest.raises(WorkflowError) as info:
        eng.process(["o"])
    assert "SYNCHRONIZE" in str(info.value)
    assert "NeedsArgument" in str(info.value)
    assert "constructible without arguments" in str(info.value)
    assert isinstance(info.value.__cause__, TypeError)


def test_synchronize_task_branches_work_with_any_engine_class():
    recorder = Recorder()
    eng = NeedsArgument("db")
    eng.callbacks.replace([SYNCHRONIZE(recorder.task("a"), recorder.task("last"))])
    eng.process(["o"])
    assert recorder.names() == ["a", "last"]


def test_synchronize_last_block_runs_in_a_new_engine(engine_class):
    seen = []

    def where(obj, eng):
        seen.append(eng)

    eng = engine_class()
    eng.callbacks.replace([SYNCHRONIZE(where, [where, where])])
    eng.process(["o"])
    assert seen[0] is eng
    assert seen[1] is seen[2]
    assert seen[1] is not eng
    assert type(seen[1]) is engine_class


def test_synchronize_builds_every_engine_before_running_a_branch():
    recorder = Recorder()
    eng = NeedsArgument("db")
    eng.callbacks.replace([SYNCHRONIZE(recorder.task("a"), [recorder.task("last")])])
    with pytest.raises(WorkflowError, match="constructible without arguments"):
        eng.process(["o"])
    assert recorder.calls == []
