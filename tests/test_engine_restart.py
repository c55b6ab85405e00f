"""``restart()``: resuming relative to where the engine stopped (SPEC 6.8, 12.6, 12.15).

Every test runs under the lean task loop and under the hooked one.
"""

from __future__ import annotations

import pytest

from tests.helpers import (
    ENGINE_CLASSES,
    ENGINE_IDS,
    RecordingEngine,
    calls_of,
    on,
    once,
    task,
    trace_of,
)
from workflow import signals
from workflow.errors import HaltProcessing, WorkflowError

engine_classes = pytest.mark.parametrize("engine_class", ENGINE_CLASSES, ids=ENGINE_IDS)

FULL = ["t0", "t10", "t110", "t111", "t112", "t12", "t2"]
"""Every task of the three-level definition below, in order."""

FROM = {
    "prev": ["t110", "t111", "t112", "t12", "t2"],
    "current": ["t111", "t112", "t12", "t2"],
    "next": ["t112", "t12", "t2"],
    "first": FULL,
}
"""The tasks run from each restart position of a halt at t111 ([1, 1, 1])."""


def _halt_once_on(target):
    return on(target, once("halted", lambda obj, eng: eng.halt("stop here")))


def _nested_engine(engine_class, halt_on):
    eng = engine_class()
    eng.callbacks.replace(
        [
            task("t0"),
            [
                task("t10"),
                [task("t110"), task("t111", _halt_once_on(halt_on)), task("t112")],
                task("t12"),
            ],
            task("t2"),
        ]
    )
    return eng


def _halted_engine(engine_class, halt_on="B"):
    eng = _nested_engine(engine_class, halt_on)
    with pytest.raises(HaltProcessing):
        eng.process(["A", "B", "C"])
    trace_of(eng).clear()
    return eng


def _trace(*runs):
    return [(obj, name) for obj, names in runs for name in names]


@engine_classes
def test_halt_in_a_nested_block_keeps_the_position_of_the_halting_task(engine_class):
    eng = _nested_engine(engine_class, "B")
    with pytest.raises(HaltProcessing):
        eng.process(["A", "B", "C"])
    assert trace_of(eng) == _trace(("A", FULL), ("B", FULL[:4]))
    assert (eng.state.token_pos, eng.state.callback_pos) == (1, [1, 1, 1])
    assert eng.has_completed is False


RESTART_TABLE = [
    # obj word -> the objects run after the restart: the first from the
    # moved task position, the others from their first task.
    pytest.param(obj_word, task_word, id=f"{obj_word}-{task_word}")
    for obj_word in ("prev", "current", "next", "first")
    for task_word in ("prev", "current", "next", "first")
]

FIRST_OBJECT_RUN = {"prev": "A", "current": "B", "next": "C", "first": "A"}


@engine_classes
@pytest.mark.parametrize(("obj_word", "task_word"), RESTART_TABLE)
def test_restart_after_a_nested_halt_on_the_second_object(
    engine_class, obj_word, task_word
):
    eng = _halted_engine(engine_class)
    eng.restart(obj_word, task_word)
    first = FIRST_OBJECT_RUN[obj_word]
    later = {"A": ["B", "C"], "B": ["C"], "C": []}[first]
    assert trace_of(eng) == _trace(
        (first, FROM[task_word]), *[(obj, FULL) for obj in later]
    )
    assert eng.has_completed is True


@engine_classes
@pytest.mark.parametrize(
    ("obj_word", "expected"),
    [
        ("prev", _trace(("B", FROM["current"]), ("C", FULL))),
        ("first", _trace(("A", FROM["current"]), ("B", FULL), ("C", FULL))),
    ],
    ids=["prev", "first"],
)
def test_restart_prev_and_first_object_differ_after_a_halt_on_the_third(
    engine_class, obj_word, expected
):
    eng = _halted_engine(engine_class, halt_on="C")
    eng.restart(obj_word, "current")
    assert trace_of(eng) == expected


@engine_classes
def test_restart_with_new_objects_processes_them(engine_class):
    eng = _halted_engine(engine_class)
    new_objects = ["X", "Y"]
    eng.restart("first", "first", objects=new_objects)
    assert eng.objects is new_objects
    assert trace_of(eng) == _trace(("X", FULL), ("Y", FULL))


@engine_classes
@pytest.mark.parametrize(
    ("stop_on_halt", "expected"),
    [
        (True, _trace(("C", FULL[:4]))),
        (False, _trace(("C", FULL[:4]), ("D", FULL))),
    ],
    ids=["stop_on_halt", "go on"],
)
def test_restart_passes_stop_on_halt_on(engine_class, stop_on_halt, expected):
    eng = engine_class()
    eng.callbacks.replace(
        [
            task("t0"),
            [
                task("t10"),
                [
                    task("t110"),
                    task(
                        "t111",
                        lambda obj, eng: obj in ("B", "C") and eng.halt(),
                    ),
                    task("t112"),
                ],
                task("t12"),
            ],
            task("t2"),
        ]
    )
    with pytest.raises(HaltProcessing):
        eng.process(["A", "B", "C", "D"])
    trace_of(eng).clear()
    if stop_on_halt:
        with pytest.raises(HaltProcessing):
            eng.restart("next", "first", stop_on_halt=True)
    else:
        eng.restart("next", "first", stop_on_halt=False)
    assert trace_of(eng) == expected


@engine_classes
@pytest.mark.parametrize(
    ("stop_on_error", "expected"),
    [
        (True, [("B", "t1"), ("B", "E")]),
        (False, [("B", "t1"), ("B", "E"), ("C", "t1"), ("C", "E"), ("C", "t2")]),
    ],
    ids=["stop_on_error", "go on"],
)
def test_restart_passes_stop_on_error_on(engine_class, stop_on_error, expected):
    def fail_on_b(obj, eng):
        if obj == "B":
            raise WorkflowError("bad object")

    eng = engine_class()
    eng.callbacks.replace(
        [task("t1"), task("E", fail_on_b), task("t2", _halt_once_on("A"))]
    )
    with pytest.raises(HaltProcessing):
        eng.process(["A", "B", "C"])
    trace_of(eng).clear()
    if stop_on_error:
        with pytest.raises(WorkflowError):
            eng.restart("next", "first", stop_on_error=True)
    else:
        eng.restart("next", "first", stop_on_error=False)
    assert trace_of(eng) == expected


@engine_classes
def test_spec_example_restart_current_next_resumes_at_the_next_nested_task(
    engine_class,
):
    eng = engine_class()
    eng.callbacks.replace(
        [
            task("a"),
            [
                task("b"),
                task("c"),
                [task("d"), task("e", _halt_once_on("A")), task("f")],
            ],
            task("g"),
        ]
    )
    with pytest.raises(HaltProcessing):
        eng.process(["A"])
    assert eng.state.callback_pos == [1, 2, 1]
    trace_of(eng).clear()
    eng.restart("current", "next")
    assert trace_of(eng) == [("A", "f"), ("A", "g")]


@engine_classes
@pytest.mark.parametrize(
    ("definition", "halt_pos", "expected"),
    [
        pytest.param(
            lambda halt: [task("t0", halt), task("t1"), task("t2")],
            [0],
            ["t0", "t1", "t2"],
            id="top level",
        ),
        pytest.param(
            lambda halt: [task("t0"), [task("t10", halt), task("t11")], task("t2")],
            [1, 0],
            ["t10", "t11", "t2"],
            id="nested block",
        ),
    ],
)
def test_restart_prev_task_at_the_first_task_starts_at_the_first_task(
    engine_class, definition, halt_pos, expected
):
    eng = engine_class()
    eng.callbacks.replace(definition(_halt_once_on("A")))
    with pytest.raises(HaltProcessing):
        eng.process(["A"])
    assert eng.state.callback_pos == halt_pos
    trace_of(eng).clear()
    eng.restart("current", "prev")
    assert trace_of(eng) == [("A", name) for name in expected]


@engine_classes
@pytest.mark.parametrize(
    ("obj_word", "task_word", "bad"),
    [
        ("bogus", "current", "'bogus'"),
        ("current", "Next", "'Next'"),
        (None, "first", "None"),
        ("first", 1, "1"),
        (["next"], "first", "['next']"),
    ],
    ids=["obj bogus", "task Next", "obj None", "task 1", "obj list"],
)
def test_restart_with_an_unknown_word_raises_naming_it(
    engine_class, obj_word, task_word, bad
):
    eng = _halted_engine(engine_class)
    with pytest.raises(WorkflowError) as info:
        eng.restart(obj_word, task_word)
    assert bad in info.value.message
    assert (eng.state.token_pos, eng.state.callback_pos) == (1, [1, 1, 1])
    assert trace_of(eng) == []


# -- restart from inside a task ------------------------------------------------


def _restart_from_task_engine(engine_class, then_halt_on=None):
    class Engine(RecordingEngine, engine_class):
        pass

    def restart_once(obj, eng):
        eng.restart("current", "next")

    eng = Engine()
    eng.callbacks.replace(
        [
            task("t1"),
            task("R", on("B", once("restarted", restart_once))),
            task("t2", then_halt_on and on(then_halt_on, lambda obj, eng: eng.halt())),
        ]
    )
    return eng


def _signal_counter(eng):
    counts = {}

    def receiver(name):
        def count(sender):
            assert sender is eng
            counts[name] = counts.get(name, 0) + 1

        return count

    receivers = {
        name: receiver(name)
        for name in (
            "workflow_started",
            "workflow_finished",
            "workflow_halted",
            "workflow_error",
        )
    }
    for name, fn in receivers.items():
        getattr(signals, name).connect(fn, sender=eng)
    return counts, receivers


def _disconnect(receivers):
    for name, fn in receivers.items():
        getattr(signals, name).disconnect(fn)


@engine_classes
def test_restart_from_a_task_carries_the_run_on_and_ends_the_outer_run(engine_class):
    eng = _restart_from_task_engine(engine_class)
    counts, receivers = _signal_counter(eng)
    try:
        eng.process(["A", "B", "C"])
    finally:
        _disconnect(receivers)
    assert trace_of(eng) == [
        ("A", "t1"),
        ("A", "R"),
        ("A", "t2"),
        ("B", "t1"),
        ("B", "R"),
        ("B", "t2"),
        ("C", "t1"),
        ("C", "R"),
        ("C", "t2"),
    ]
    assert counts == {"workflow_started": 2, "workflow_finished": 1}
    hooks = [call[0] for call in calls_of(eng)]
    assert hooks.count("before_processing") == 2
    assert hooks.count("after_processing") == 1
    assert eng.has_completed is True


@engine_classes
def test_restart_from_a_task_calls_the_hooks_of_the_task_in_order(engine_class):
    eng = _restart_from_task_engine(engine_class)
    eng.process(["A", "B", "C"])
    b_calls = [call for call in calls_of(eng) if "B" in call or len(call) == 1]
    assert b_calls == [
        ("before_processing",),
        ("before_object", "B"),
        ("before_callbacks", "B"),
        ("before_each", "t1", "B"),
        ("after_each", "t1", "B"),
        ("before_each", "R", "B"),
        # the nested run
        ("before_processing",),
        ("before_object", "B"),
        ("before_callbacks", "B"),
        ("before_each", "t2", "B"),
        ("after_each", "t2", "B"),
        ("after_callbacks", "B"),
        ("after_object", "B"),
        ("after_processing",),
        # back in the outer run: the task that restarted returns
        ("after_each", "R", "B"),
        ("after_callbacks", "B"),
    ]


@engine_classes
def test_halt_in_a_restart_from_a_task_is_handled_once(engine_class):
    eng = _restart_from_task_engine(engine_class, then_halt_on="C")
    counts, receivers = _signal_counter(eng)
    try:
        with pytest.raises(HaltProcessing):
            eng.process(["A", "B", "C"])
    finally:
        _disconnect(receivers)
    assert counts == {"workflow_started": 2, "workflow_halted": 1}
    assert [call for call in calls_of(eng) if call[0] == "HaltProcessing"] == [
        ("HaltProcessing", "C")
    ]
    assert (eng.state.token_pos, eng.state.callback_pos) == (2, [2])
    assert trace_of(eng)[-3:] == [("C", "t1"), ("C", "R"), ("C", "t2")]


# -- nested engines --------------------------------------------------------------


@engine_classes
def test_halt_in_a_nested_engine_halts_the_outer_engine(engine_class):
    inner = engine_class()
    inner.callbacks.replace([task("u1"), task("u2", _halt_once_on("a")), task("u3")])

    def run_inner(obj, eng):
        inner.process([obj.lower()])

    outer = engine_class()
    outer.callbacks.replace([task("t1"), task("INNER", run_inner), task("t2")])
    halted = []

    def on_halt(sender):
        halted.append(sender)

    expect_halt = pytest.raises(HaltProcessing)
    with signals.workflow_halted.connected_to(on_halt), expect_halt as info:
        outer.process(["A", "B"])
    assert info.value.message == "stop here"
    assert halted == [inner, outer]
    assert (inner.state.token_pos, inner.state.callback_pos) == (0, [1])
    assert (outer.state.token_pos, outer.state.callback_pos) == (0, [1])
    assert trace_of(outer) == [("A", "t1"), ("A", "INNER")]
    assert trace_of(inner) == [("a", "u1"), ("a", "u2")]

    outer.restart("current", "current")
    assert trace_of(outer)[2:] == [
        ("A", "INNER"),
        ("A", "t2"),
        ("B", "t1"),
        ("B", "INNER"),
        ("B", "t2"),
    ]
    assert trace_of(inner)[2:] == [
        ("a", "u1"),
        ("a", "u2"),
        ("a", "u3"),
        ("b", "u1"),
        ("b", "u2"),
        ("b", "u3"),
    ]


@engine_classes
def test_restart_from_a_task_ends_the_outer_run_on_either_task_loop(engine_class):
    def restart_once(obj, eng):
        eng.restart("current", "next")

    eng = engine_class()
    eng.callbacks.replace(
        [
            task("t1"),
            [task("R", on("B", once("restarted", restart_once))), task("t2")],
            task("t3"),
        ]
    )
    counts, receivers = _signal_counter(eng)
    try:
        eng.process(["A", "B", "C"])
    finally:
        _disconnect(receivers)
    assert trace_of(eng) == [
        ("A", "t1"),
        ("A", "R"),
        ("A", "t2"),
        ("A", "t3"),
        ("B", "t1"),
        ("B", "R"),
        ("B", "t2"),
        ("B", "t3"),
        ("C", "t1"),
        ("C", "R"),
        ("C", "t2"),
        ("C", "t3"),
    ]
    assert counts == {"workflow_started": 2, "workflow_finished": 1}
    assert (eng.state.token_pos, eng.state.callback_pos) == (2, [0])
    assert eng.has_completed is True


@engine_classes
def test_restart_with_objects_that_are_not_a_list_raises(engine_class):
    eng = _halted_engine(engine_class)
    with pytest.raises(WorkflowError) as info:
        eng.restart("first", "first", objects=42)
    assert "not an iterable" in info.value.message
    assert "int" in info.value.message
