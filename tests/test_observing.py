"""The per-object and per-task signals, and the fields of the engine's log records.

Real blinker receivers are connected to :mod:`workflow.signals` (for one
engine, or for any); every connection is undone when its test ends.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from tests.helpers import task, trace_of
from workflow import signals
from workflow._observe import task_name
from workflow.engine import GenericWorkflowEngine
from workflow.errors import HaltProcessing, WorkflowError
from workflow.patterns.controlflow import (
    CHOICE,
    FOR,
    IF,
    IF_ELSE,
    TASK_JUMP_FWD,
    WHILE,
)

NAMES = ("object_started", "object_finished", "task_finished")


class Received:
    """What the receivers got: ``(signal, kwargs)`` with each ``task`` named.

    The durations are checked (a float, not negative) and left out, so that
    a whole run compares exactly.
    """

    def __init__(self) -> None:
        self.signals: list[tuple[Any, ...]] = []
        self.senders: list[Any] = []
        self.durations: list[Any] = []

    def receiver(self, name: str) -> Any:
        def receive(sender: Any, **kwargs: Any) -> None:
            self.senders.append(sender)
            if "duration" in kwargs:
                self.durations.append(kwargs.pop("duration"))
            if "task" in kwargs:
                kwargs["task"] = kwargs["task"].__name__
            self.signals.append((name, *kwargs.values()))

        return receive


@pytest.fixture
def listen():
    """``listen(sender=None, names=NAMES)``: connect receivers, return what they get."""
    connected: list[tuple[Any, Any]] = []

    def start(sender: Any = None, names: tuple[str, ...] = NAMES) -> Received:
        received = Received()
        for name in names:
            receive = received.receiver(name)
            signal = getattr(signals, name)
            if sender is None:
                signal.connect(receive, weak=False)
            else:
                signal.connect(receive, sender=sender, weak=False)
            connected.append((signal, receive))
        return received

    yield start
    for signal, receive in connected:
        signal.disconnect(receive)


def _engine(*definition: Any) -> GenericWorkflowEngine:
    eng = GenericWorkflowEngine()
    eng.callbacks.replace(list(definition))
    return eng


def grade_is_not_passing(obj: Any, eng: Any) -> bool:
    return obj == "B"


def _halt_once(obj: Any, eng: Any) -> None:
    if not eng.extra_data.get("halted"):
        eng.extra_data["halted"] = True
        eng.halt("wait")


# --------------------------------------------------------------------------
# Payloads


def test_a_nested_pattern_with_a_jump_sends_each_task_and_object(listen):
    eng = _engine(
        task("a"),
        IF(grade_is_not_passing, [task("b"), TASK_JUMP_FWD(2), task("x"), task("c")]),
        task("d"),
    )
    received = listen(eng)
    eng.process(["A", "B"])
    assert received.signals == [
        ("object_started", "A", 0),
        # "task_finished": obj, position, callback_pos, task, outcome
        ("task_finished", "A", 0, [0], "a", "ok"),
        ("task_finished", "A", 0, [1, 0], "IF", "BreakFromThisLoop"),
        ("task_finished", "A", 0, [2], "d", "ok"),
        # "object_finished": obj, position, outcome
        ("object_finished", "A", 0, "completed"),
        ("object_started", "B", 1),
        ("task_finished", "B", 1, [0], "a", "ok"),
        ("task_finished", "B", 1, [1, 0], "IF", "ok"),
        ("task_finished", "B", 1, [1, 1, 0], "b", "ok"),
        ("task_finished", "B", 1, [1, 1, 1], "TASK_JUMP_FWD", "JumpCall"),
        ("task_finished", "B", 1, [1, 1, 3], "c", "ok"),
        ("task_finished", "B", 1, [2], "d", "ok"),
        ("object_finished", "B", 1, "completed"),
    ]
    assert set(received.senders) == {eng}
    assert len(received.durations) == 11
    assert all(type(d) is float and d >= 0 for d in received.durations)
    assert [name for _, name in trace_of(eng)] == ["a", "d", "a", "b", "c", "d"]


def test_the_keyword_arguments_are_named_as_documented(listen):
    got: dict[str, list[Any]] = {name: [] for name in NAMES}

    def receiver(name: str) -> Any:
        def receive(sender: Any, **kwargs: Any) -> None:
            got[name].append(kwargs)

        return receive

    eng = _engine(task("a"))
    receivers = [(getattr(signals, name), receiver(name)) for name in NAMES]
    for signal, receive in receivers:
        signal.connect(receive, sender=eng)
    try:
        eng.process(["A"])
    finally:
        for signal, receive in receivers:
            signal.disconnect(receive)
    assert [sorted(kwargs) for kwargs in got["object_started"]] == [["obj", "position"]]
    assert [sorted(kwargs) for kwargs in got["object_finished"]] == [
        ["duration", "obj", "outcome", "position"]
    ]
    assert [sorted(kwargs) for kwargs in got["task_finished"]] == [
        ["callback_pos", "duration", "obj", "outcome", "position", "task"]
    ]
    assert got["task_finished"][0]["task"] is eng.callbacks.get()[0]


def test_a_halt_then_its_resume(listen):
    eng = _engine(task("a"), task("h", _halt_once), task("b"))
    received = listen(eng)
    with pytest.raises(HaltProcessing):
        eng.process(["A", "B"])
    assert received.signals == [
        ("object_started", "A", 0),
        ("task_finished", "A", 0, [0], "a", "ok"),
        ("task_finished", "A", 0, [1], "h", "HaltProcessing"),
        ("object_finished", "A", 0, "halted"),
    ]
    del received.signals[:]
    eng.restart("current", "next")
    assert received.signals == [
        ("object_started", "A", 0),
        ("task_finished", "A", 0, [2], "b", "ok"),
        ("object_finished", "A", 0, "completed"),
        ("object_started", "B", 1),
        ("task_finished", "B", 1, [0], "a", "ok"),
        ("task_finished", "B", 1, [1], "h", "ok"),
        ("task_finished", "B", 1, [2], "b", "ok"),
        ("object_finished", "B", 1, "completed"),
    ]


@pytest.mark.parametrize("error", [ValueError("boom"), WorkflowError("bad")])
def test_an_error(listen, error):
    def fail(obj: Any, eng: Any) -> None:
        raise error

    eng = _engine(task("a"), [task("b"), task("fail", fail)], task("c"))
    received = listen(eng)
    with pytest.raises(type(error)):
        eng.process(["A", "B"])
    assert received.signals == [
        ("object_started", "A", 0),
        ("task_finished", "A", 0, [0], "a", "ok"),
        ("task_finished", "A", 0, [1, 0], "b", "ok"),
        ("task_finished", "A", 0, [1, 1], "fail", "error"),
        ("object_finished", "A", 0, "error"),
    ]


def test_the_2x_signals_are_sent_as_before(listen):
    got = []

    def record(sender: Any, **kwargs: Any) -> None:
        got.append(("halted", sender, kwargs))

    eng = _engine(task("h", _halt_once))
    signals.workflow_halted.connect(record, sender=eng)
    received = listen(eng)
    try:
        with pytest.raises(HaltProcessing):
            eng.process(["A"])
    finally:
        signals.workflow_halted.disconnect(record)
    assert got == [("halted", eng, {})]
    assert [signal[0] for signal in received.signals] == [
        "object_started",
        "task_finished",
        "object_finished",
    ]


def _restart_once(obj: Any, eng: Any) -> None:
    if not eng.extra_data.get("restarted"):
        eng.extra_data["restarted"] = True
        eng.restart("current", "next")


@pytest.mark.parametrize(
    ("control", "outcome", "task_outcome"),
    [
        (lambda obj, eng: eng.stop(), "stopped", "StopProcessing"),
        (lambda obj, eng: eng.abort(), "aborted", "AbortProcessing"),
        (lambda obj, eng: eng.skip_token(), "skipped", "SkipToken"),
        (
            lambda obj, eng: eng.continue_next_token(),
            "continued",
            "ContinueNextToken",
        ),
        (lambda obj, eng: eng.jump_token(1), "jumped", "JumpToken"),
    ],
    ids=["stop", "abort", "skip_token", "continue_next_token", "jump_token"],
)
def test_each_control_outcome(listen, control, outcome, task_outcome):
    eng = _engine(task("a"), task("control", control), task("b"))
    received = listen(eng)
    eng.process(["A"])
    assert received.signals == [
        ("object_started", "A", 0),
        ("task_finished", "A", 0, [0], "a", "ok"),
        ("task_finished", "A", 0, [1], "control", task_outcome),
        ("object_finished", "A", 0, outcome),
    ]


def test_a_task_restarting_its_engine_supersedes_the_object(listen):
    eng = _engine(task("a"), task("r", _restart_once), task("b"))
    received = listen(eng)
    eng.process(["A"])
    assert received.signals == [
        ("object_started", "A", 0),
        ("task_finished", "A", 0, [0], "a", "ok"),
        # The new run the task started, from the task after it.
        ("object_started", "A", 0),
        ("task_finished", "A", 0, [2], "b", "ok"),
        ("object_finished", "A", 0, "completed"),
        # The task of the first run returns; that run ends there.
        ("task_finished", "A", 0, [1], "r", "ok"),
        ("object_finished", "A", 0, "superseded"),
    ]


def test_an_object_without_tasks_starts_and_completes(listen):
    class Chooser(GenericWorkflowEngine):
        def callback_chooser(self, obj: Any) -> Any:
            return [] if obj == "none" else self.callbacks.get()

    eng = Chooser()
    eng.callbacks.replace([task("a")])
    received = listen(eng)
    eng.process(["none", "A"])
    assert received.signals == [
        ("object_started", "none", 0),
        ("object_finished", "none", 0, "completed"),
        ("object_started", "A", 1),
        ("task_finished", "A", 1, [0], "a", "ok"),
        ("object_finished", "A", 1, "completed"),
    ]


def test_per_object_receivers_alone_leave_the_tasks_uncalled_by_hooks(listen):
    """Without a task_finished receiver the control tasks are not called."""
    eng = _engine(task("a"), IF(grade_is_not_passing, [task("b")]))
    received = listen(eng, ("object_started", "object_finished"))
    eng.process(["A", "B"])
    assert received.signals == [
        ("object_started", "A", 0),
        ("object_finished", "A", 0, "completed"),
        ("object_started", "B", 1),
        ("object_finished", "B", 1, "completed"),
    ]
    assert eng._plan()[7] is None


def test_loops_send_each_round(listen):
    def rounds_left(obj: Any, eng: Any) -> bool:
        return eng.extra_data.setdefault("rounds", 2) > 0

    def count(obj: Any, eng: Any) -> None:
        eng.extra_data["rounds"] -= 1

    eng = _engine(*WHILE(rounds_left, [task("count", count)]))
    received = listen(eng, ("task_finished",))
    eng.process(["A"])
    assert [(s[3], s[4], s[5]) for s in received.signals] == [
        ([0], "WHILE", "ok"),
        ([1], "count", "ok"),
        ([2], "TASK_JUMP_BWD", "JumpCall"),
        ([0], "WHILE", "ok"),
        ([1], "count", "ok"),
        ([2], "TASK_JUMP_BWD", "JumpCall"),
        ([0], "WHILE", "BreakFromThisLoop"),
    ]


# --------------------------------------------------------------------------
# Whom the signals are sent for


def test_receivers_for_one_engine_get_nothing_from_another(listen):
    watched = _engine(task("a"))
    other = _engine(task("a"))
    received = listen(watched)
    other.process(["X"])
    watched.process(["A"])
    other.process(["Y"])
    assert received.signals == [
        ("object_started", "A", 0),
        ("task_finished", "A", 0, [0], "a", "ok"),
        ("object_finished", "A", 0, "completed"),
    ]
    # The other engine's runs send nothing: their plan has no observer.
    assert other._plan()[7:] == (None, None)
    assert watched._plan()[8] == (signals.object_started, signals.object_finished)


def test_receivers_for_any_engine_get_every_engine(listen):
    first = _engine(task("a"))
    second = _engine(task("a"))
    received = listen(names=("object_finished",))
    first.process(["A"])
    second.process(["B"])
    assert received.signals == [
        ("object_finished", "A", 0, "completed"),
        ("object_finished", "B", 0, "completed"),
    ]
    assert received.senders == [first, second]


def test_without_receivers_a_run_plans_no_observer():
    eng = _engine(task("a"))
    eng.process(["A"])
    assert eng._plan()[7:] == (None, None)


def test_a_receiver_connected_during_a_run_is_used_from_the_next_run(listen):
    eng = _engine()
    got: list[Any] = []

    def connect(obj: Any, eng: Any) -> None:
        if not got:
            got.append(listen(eng, ("object_finished",)))

    eng.callbacks.replace([task("connect", connect)])
    eng.process(["A", "B"])
    assert got[0].signals == []
    eng.process(["C"])
    assert got[0].signals == [("object_finished", "C", 0, "completed")]


# --------------------------------------------------------------------------
# Task names and log fields


def test_pattern_tasks_are_named_after_the_user_function():
    def arbiter(obj: Any, eng: Any) -> str:
        return "x"

    def values(obj: Any, eng: Any) -> list[int]:
        return [1]

    def a(obj: Any, eng: Any) -> None:
        pass

    assert task_name(IF(grade_is_not_passing, [a])[0]) == "grade_is_not_passing"
    assert task_name(IF_ELSE(grade_is_not_passing, a, a)[0]) == "grade_is_not_passing"
    assert task_name(WHILE(grade_is_not_passing, a)[0]) == "grade_is_not_passing"
    assert task_name(CHOICE(arbiter, ("x", a))[0]) == "arbiter"
    assert task_name(FOR(values, "v", a)[0]) == "values"
    assert task_name(FOR(values, "v", a)[2]) == "TASK_JUMP_BWD"
    assert task_name(TASK_JUMP_FWD(1)) == "TASK_JUMP_FWD"
    assert task_name(a) == "a"


def _fields(record: logging.LogRecord) -> tuple[Any, ...]:
    return tuple(
        getattr(record, name, "missing")
        for name in ("object_position", "task_name", "workflow_uuid", "workflow_name")
    )


def test_debug_records_carry_the_object_position_and_task_name(caplog):
    eng = _engine(task("a"), IF(grade_is_not_passing, [task("h", _halt_once)]))
    caplog.set_level(logging.DEBUG, logger=eng.log.name)
    with pytest.raises(HaltProcessing):
        eng.process(["A", "B"])
    assert [(r.getMessage(), *_fields(r)) for r in caplog.records] == [
        ("Running task a at [0] on object 0", 0, "a", "missing", "missing"),
        (
            "Running task IF at [1, 0] on object 0",
            0,
            "grade_is_not_passing",
            "missing",
            "missing",
        ),
        ("Running task a at [0] on object 1", 1, "a", "missing", "missing"),
        (
            "Running task IF at [1, 0] on object 1",
            1,
            "grade_is_not_passing",
            "missing",
            "missing",
        ),
        ("Running task h at [1, 1, 0] on object 1", 1, "h", "missing", "missing"),
        (
            "Processing was halted at object 1, task [1, 1, 0]",
            1,
            "h",
            "missing",
            "missing",
        ),
    ]


@pytest.mark.parametrize(
    ("control", "message"),
    [
        (lambda obj, eng: eng.stop(), "Processing was stopped at object 0"),
        (lambda obj, eng: eng.abort(), "Processing was aborted at object 0"),
        (lambda obj, eng: eng.skip_token(), "Skipped object 0"),
        (
            lambda obj, eng: eng.continue_next_token(),
            "Continuing with the object after 0",
        ),
        (lambda obj, eng: eng.jump_token(1), "Jumped 1 objects, to token_pos 0"),
    ],
    ids=["stop", "abort", "skip_token", "continue_next_token", "jump_token"],
)
def test_transition_records_name_the_task_that_raised(caplog, control, message):
    eng = _engine(task("a"), [task("control", control)])
    caplog.set_level(logging.DEBUG, logger=eng.log.name)
    eng.process(["A"])
    transitions = [r for r in caplog.records if not r.msg.startswith("Running")]
    assert [(r.getMessage(), *_fields(r)[:2]) for r in transitions] == [
        (message, 0, "control")
    ]


def test_the_empty_objects_warning_carries_the_fields(caplog):
    eng = _engine(task("a"))
    eng.process([])
    assert [(r.levelno, *_fields(r)[:2]) for r in caplog.records] == [
        (logging.WARNING, -1, None)
    ]


class CountingFields(GenericWorkflowEngine):
    """Counts the calls of :meth:`log_fields`."""

    def log_fields(self, task: Any = None) -> dict[str, Any]:
        self.__dict__["field_calls"] = self.__dict__.get("field_calls", 0) + 1
        return {**super().log_fields(task), "custom": "yes"}


def test_fields_are_built_only_when_the_level_is_enabled(caplog):
    eng = CountingFields()
    eng.callbacks.replace([task("a"), task("stop", lambda obj, eng: eng.stop())])
    caplog.set_level(logging.INFO, logger=eng.log.name)
    eng.process(["A"])
    assert caplog.records == []
    assert "field_calls" not in eng.__dict__
    caplog.set_level(logging.DEBUG, logger=eng.log.name)
    eng.process(["A"])
    assert [(r.getMessage(), r.custom) for r in caplog.records] == [
        ("Running task a at [0] on object 0", "yes"),
        ("Running task stop at [1] on object 0", "yes"),
        ("Processing was stopped at object 0", "yes"),
    ]
    assert eng.field_calls == 3


def test_runs_look_at_the_signals_only_once_a_receiver_connected():
    code = textwrap.dedent(
        """
        from workflow import _observe, signals
        from workflow.engine import GenericWorkflowEngine
        eng = GenericWorkflowEngine()
        eng.callbacks.replace([lambda obj, eng: None])
        eng.process(["A"])
        print(_observe.SIGNALS, eng._plan()[7:])
        receive = lambda sender, **kwargs: print("finished", kwargs["obj"])
        signals.object_finished.connect(receive, sender=eng)
        print(_observe.SIGNALS == (
            signals.object_started, signals.object_finished, signals.task_finished
        ))
        eng.process(["B"])
        signals.object_finished.disconnect(receive)
        eng.process(["C"])
        print(eng._plan()[7:])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "None (None, None)\nTrue\nfinished B\n(None, None)\n"


def test_a_try_failure_record_names_the_task_it_retries(caplog):
    from workflow.patterns.utils import TRY

    def fetch(obj: Any, eng: Any) -> None:
        raise OSError("offline")

    eng = _engine(task("a"), TRY(fetch, retry=1, onfailure=None))
    eng.process(["A"])
    assert [(r.getMessage(), *_fields(r)[:2]) for r in caplog.records] == [
        ("TRY: attempt 1 of 2 of fetch failed", 0, "fetch"),
        ("TRY: attempt 2 of 2 of fetch failed", 0, "fetch"),
    ]


def test_the_observed_configuration_runs_the_instrumented_executor():
    """The property tests' ``observed`` engines really send the signals."""
    from tests.configurations import ObservedEngine

    eng = ObservedEngine()
    eng.callbacks.replace([task("a"), IF(grade_is_not_passing, [task("b")])])
    assert eng._plan()[7] is not None
    assert eng._plan()[8] == (signals.object_started, signals.object_finished)
    eng.process(["B"])
    assert [
        (name, kwargs.get("task", None) and kwargs["task"].__name__)
        for name, kwargs in eng.observed
    ] == [
        ("object_started", None),
        ("task_finished", "a"),
        ("task_finished", "IF"),
        ("task_finished", "b"),
        ("object_finished", None),
    ]
