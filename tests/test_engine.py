"""``GenericWorkflowEngine``: processing objects (SPEC 6.1-6.7, 6.9, 12.5, 12.15)."""

from __future__ import annotations

import functools
import gc
import logging
import os
import pickle
import types
from typing import Any

import pytest

import workflow
from tests.helpers import (
    ENGINE_CLASSES,
    ENGINE_IDS,
    ExecuteCallbackEngine,
    RecordingEngine,
    calls_of,
    on,
    once,
    task,
    trace_of,
)
from workflow._pattern import BREAK_LEVEL, Pattern, pattern_of
from workflow.engine import (
    ActionMapper,
    Callbacks,
    GenericWorkflowEngine,
    MachineState,
    ProcessingFactory,
    Signal,
    TransitionActions,
)
from workflow.errors import HaltProcessing, WorkflowError
from workflow.utils import classproperty

PACKAGE_DIRECTORY = os.path.dirname(workflow.__file__)

engine_classes = pytest.mark.parametrize("engine_class", ENGINE_CLASSES, ids=ENGINE_IDS)

EMPTY_WARNING = "List of objects is empty. Running workflow on empty set has no effect."


def _engine(engine_class=GenericWorkflowEngine, definition=None):
    eng = engine_class()
    eng.callbacks.replace(definition or [task("t1"), task("t2")])
    return eng


def _full(objects, names=("t1", "t2")):
    return [(obj, name) for obj in objects for name in names]


# -- attributes (6.1) -------------------------------------------------------------


def test_a_new_engine_has_empty_attributes():
    eng = GenericWorkflowEngine()
    assert isinstance(eng.callbacks, Callbacks)
    assert eng.callbacks.empty() is True
    assert eng.objects == []
    assert isinstance(eng.log, logging.Logger)
    assert isinstance(eng.state, MachineState)
    assert (eng.state.token_pos, eng.state.callback_pos) == (-1, [0])
    assert eng.extra_data == {}
    assert len(eng) == 0


def test_class_properties_point_at_the_default_classes():
    eng = GenericWorkflowEngine()
    assert GenericWorkflowEngine.processing_factory is ProcessingFactory
    assert eng.processing_factory is ProcessingFactory
    assert eng.signal is Signal
    assert ProcessingFactory.action_mapper is ActionMapper
    assert ProcessingFactory.transition_exception_mapper is TransitionActions


def test_len_is_the_number_of_objects():
    eng = _engine()
    eng.process(["A", "B", "C"])
    assert len(eng) == 3


def test_extra_data_is_shared_by_tasks_and_kept_across_runs():
    def count(obj, eng):
        eng.extra_data["count"] = eng.extra_data.get("count", 0) + 1

    eng = _engine(definition=[count, count])
    eng.process(["A", "B"])
    eng.process(["C"])
    assert eng.extra_data == {"count": 6}


def test_repr_shows_the_class_and_position():
    eng = _engine()
    eng.process(["A", "B"])
    assert repr(eng) == "<GenericWorkflowEngine objects=2 token_pos=1 callback_pos=[0]>"


# -- pre-flight (6.2.1) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("objects", "class_name"),
    [(42, "int"), (None, "NoneType"), ("abc", "str"), (b"abc", "bytes")],
    ids=["int", "None", "str", "bytes"],
)
def test_process_rejects_a_non_iterable_or_text(objects, class_name):
    eng = _engine()
    with pytest.raises(WorkflowError) as info:
        eng.process(objects)
    assert "not an iterable" in info.value.message
    assert class_name in info.value.message
    assert info.value.args == (info.value.message,)
    assert trace_of(eng) == []


def test_process_without_callbacks_raises_the_exact_message():
    eng = GenericWorkflowEngine()
    with pytest.raises(WorkflowError) as info:
        eng.process(["A"])
    assert info.value.args == ("The callbacks are empty, did you set them?",)


@pytest.mark.parametrize(
    "empty", [[], (), iter([]), range(0)], ids=["list", "tuple", "iterator", "range"]
)
def test_process_of_an_empty_sequence_warns_on_the_engine_log(caplog, empty):
    eng = _engine()
    caplog.set_level(logging.DEBUG, logger=eng.log.name)
    eng.process(empty)
    warnings = [
        (r.name, r.levelno, r.getMessage())
        for r in caplog.records
        if r.levelno >= logging.WARNING
    ]
    assert warnings == [(eng.log.name, logging.WARNING, EMPTY_WARNING)]


def test_process_of_an_empty_list_carries_on_to_after_processing():
    eng = RecordingEngine()
    eng.callbacks.replace([task("t1")])
    eng.process([])
    assert calls_of(eng) == [("before_processing",), ("after_processing",)]
    assert eng.has_completed is False


def test_a_generator_is_read_once_into_a_list():
    pulled = []

    def generate():
        for name in ("A", "B", "C"):
            pulled.append(name)
            yield name

    eng = _engine()
    eng.process(generate())
    assert pulled == ["A", "B", "C"]
    assert eng.objects == ["A", "B", "C"]
    assert type(eng.objects) is list
    assert trace_of(eng) == _full(["A", "B", "C"])


@engine_classes
def test_a_list_is_used_as_that_very_object_and_grows_while_running(engine_class):
    objects = ["A", "B"]

    def append_c(obj, eng):
        eng.objects.append("C")

    eng = _engine(engine_class, [task("t1", on("A", append_c)), task("t2")])
    eng.process(objects)
    assert eng.objects is objects
    assert objects == ["A", "B", "C"]
    assert trace_of(eng) == _full(["A", "B", "C"])


@pytest.mark.parametrize("objects", [("A", "B"), range(2)], ids=["tuple", "range"])
def test_any_sequence_is_used_as_it_is(objects):
    eng = _engine()
    eng.process(objects)
    assert eng.objects is objects
    assert trace_of(eng) == _full(list(objects))


# -- stop_on_halt / stop_on_error (6.2.3) -------------------------------------------


@engine_classes
def test_stop_on_halt_false_goes_on_with_the_next_object_first_task(engine_class):
    eng = _engine(
        engine_class,
        [task("t1"), [task("t2", on("B", lambda obj, eng: eng.halt())), task("t3")]],
    )
    eng.process(["A", "B", "C"], stop_on_halt=False)
    assert trace_of(eng) == _full(["A"], ("t1", "t2", "t3")) + [
        ("B", "t1"),
        ("B", "t2"),
    ] + _full(["C"], ("t1", "t2", "t3"))
    assert eng.has_completed is True


@engine_classes
def test_stop_on_halt_true_hands_the_halt_to_the_caller(engine_class):
    eng = _engine(engine_class, [task("t1", on("B", lambda obj, eng: eng.halt()))])
    with pytest.raises(HaltProcessing):
        eng.process(["A", "B", "C"])
    assert trace_of(eng) == [("A", "t1"), ("B", "t1")]
    assert eng.has_completed is False


def _fail_on_b(exception):
    def fail(obj, eng):
        if obj == "B":
            raise exception

    return fail


@engine_classes
def test_stop_on_error_false_goes_on_after_a_workflow_error(engine_class):
    eng = _engine(
        engine_class, [task("t1", _fail_on_b(WorkflowError("bad"))), task("t2")]
    )
    eng.process(["A", "B", "C"], stop_on_error=False)
    assert trace_of(eng) == _full(["A"]) + [("B", "t1")] + _full(["C"])
    assert eng.has_completed is True


@engine_classes
def test_stop_on_error_true_hands_the_workflow_error_to_the_caller(engine_class):
    error = WorkflowError("bad")
    eng = _engine(engine_class, [task("t1", _fail_on_b(error)), task("t2")])
    with pytest.raises(WorkflowError) as info:
        eng.process(["A", "B", "C"])
    assert info.value is error
    assert trace_of(eng) == _full(["A"]) + [("B", "t1")]


@engine_classes
def test_stop_on_error_false_still_propagates_other_exceptions(engine_class):
    eng = _engine(
        engine_class, [task("t1", _fail_on_b(ValueError("boom"))), task("t2")]
    )
    with pytest.raises(ValueError, match="boom"):
        eng.process(["A", "B", "C"], stop_on_error=False)
    assert trace_of(eng) == _full(["A"]) + [("B", "t1")]
    assert (eng.state.token_pos, eng.state.callback_pos) == (1, [0])


@pytest.mark.timeout(120)
@engine_classes
def test_many_halting_objects_with_stop_on_halt_false_do_not_recurse(engine_class):
    halts = []

    def halt(obj, eng):
        halts.append(obj)
        eng.halt()

    eng = _engine(engine_class, [halt])
    eng.process(list(range(100_000)), stop_on_halt=False)
    assert len(halts) == 100_000
    assert halts[-1] == 99_999
    assert eng.has_completed is True


# -- default transition actions (6.5, 6.6, 12.5) ----------------------------------


@engine_classes
@pytest.mark.parametrize(
    ("control", "expected", "completed"),
    [
        pytest.param(
            lambda eng: eng.stop(),
            _full(["A"], ("t1", "X", "t3")) + [("B", "t1"), ("B", "X")],
            False,
            id="stop",
        ),
        pytest.param(
            lambda eng: eng.abort(),
            _full(["A"], ("t1", "X", "t3")) + [("B", "t1"), ("B", "X")],
            False,
            id="abort",
        ),
        pytest.param(
            lambda eng: eng.continue_next_token(),
            _full(["A"], ("t1", "X", "t3"))
            + [("B", "t1"), ("B", "X")]
            + _full(["C"], ("t1", "X", "t3")),
            True,
            id="continue_next_token",
        ),
        pytest.param(
            lambda eng: eng.skip_token(),
            _full(["A"], ("t1", "X", "t3"))
            + [("B", "t1"), ("B", "X")]
            + _full(["C"], ("t1", "X", "t3")),
            True,
            id="skip_token",
        ),
        pytest.param(
            lambda eng: eng.break_current_loop(),
            _full(["A", "B", "C"], ("t1", "X", "t3")),
            True,
            id="break_current_loop",
        ),
    ],
)
def test_control_method_in_a_nested_block(engine_class, control, expected, completed):
    eng = _engine(
        engine_class,
        [
            [task("t1"), task("X", on("B", lambda obj, eng: control(eng)))],
            task("t3"),
        ],
    )
    eng.process(["A", "B", "C"])
    assert trace_of(eng) == expected
    assert eng.has_completed is completed
    assert eng.state.current_object_processed is True


@engine_classes
def test_skip_token_resets_the_task_position_for_the_next_object(engine_class):
    eng = _engine(
        engine_class,
        [
            task("t1"),
            [task("t2"), task("S", on("A", lambda obj, eng: eng.skip_token()))],
        ],
    )
    eng.process(["A", "B"])
    assert trace_of(eng) == [
        ("A", "t1"),
        ("A", "t2"),
        ("A", "S"),
        ("B", "t1"),
        ("B", "t2"),
        ("B", "S"),
    ]


@engine_classes
def test_skip_token_works_on_objects_without_a_log(engine_class):
    eng = _engine(engine_class, [task("S", lambda obj, eng: eng.skip_token())])
    eng.process([1, None, object])
    assert [obj for obj, _ in trace_of(eng)] == [1, None, object]


@engine_classes
def test_halt_carries_message_action_and_payload(engine_class):
    def halt(obj, eng):
        eng.halt("needs approval", action="approve", payload={"n": 1})

    eng = _engine(engine_class, [halt])
    with pytest.raises(HaltProcessing) as info:
        eng.process(["A"])
    assert (info.value.message, info.value.action, info.value.payload) == (
        "needs approval",
        "approve",
        {"n": 1},
    )


@engine_classes
def test_an_exception_leaves_the_position_at_the_task_that_raised(engine_class):
    eng = _engine(
        engine_class,
        [task("t0"), [task("t10"), task("boom", _fail_on_b(KeyError("k")))]],
    )
    with pytest.raises(KeyError):
        eng.process(["A", "B"])
    assert (eng.state.token_pos, eng.state.callback_pos) == (1, [1, 1])
    assert eng.current_object == "B"
    assert eng.current_taskname == "boom"


class _CustomError(Exception):
    pass


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("return", _full(["A"]) + [("B", "t1")] + _full(["C"])),
        ("continue", _full(["A"]) + [("B", "t1")] + _full(["C"])),
        ("break", _full(["A"]) + [("B", "t1")]),
    ],
)
def test_a_user_handler_is_found_by_the_exception_class_name(outcome, expected):
    from workflow.engine import Break, Continue

    seen = []

    class Actions(TransitionActions):
        @staticmethod
        def _CustomError(obj, eng, callbacks, exc_info):  # noqa: N802
            seen.append((obj, exc_info[0], type(exc_info[1]), callbacks))
            if outcome == "break":
                raise Break
            if outcome == "continue":
                raise Continue

    class Factory(ProcessingFactory):
        transition_exception_mapper = Actions

    class Engine(RecordingEngine):
        processing_factory = Factory

    eng = Engine()
    definition = [task("t1", _fail_on_b(_CustomError())), task("t2")]
    eng.callbacks.replace(definition)
    eng.process(["A", "B", "C"])
    assert trace_of(eng) == expected
    assert seen == [("B", _CustomError, _CustomError, eng.callbacks.get())]
    assert eng.state.current_object_processed is True


# -- hook call order (6.3, 6.7) --------------------------------------------------


def _object_calls(obj, tasks, ending):
    calls = [("before_object", obj), ("before_callbacks", obj)]
    for name in tasks:
        calls += [("before_each", name, obj), ("after_each", name, obj)]
    calls.append(("after_callbacks", obj))
    calls.append(ending)
    return calls


def _recording_engine(control):
    eng = RecordingEngine()
    eng.callbacks.replace([task("t1"), task("X", control)])
    return eng


def test_hook_order_with_a_skip_and_a_stop():
    def control(obj, eng):
        if obj == "B":
            eng.skip_token()
        if obj == "C":
            eng.stop()

    eng = _recording_engine(control)
    eng.process(["A", "B", "C", "D"])
    assert calls_of(eng) == [
        ("before_processing",),
        *_object_calls("A", ["t1", "X"], ("after_object", "A")),
        *_object_calls("B", ["t1", "X"], ("SkipToken", "B")),
        *_object_calls("C", ["t1", "X"], ("StopProcessing", "C")),
        ("after_processing",),
    ]


def test_hook_order_with_a_halt():
    eng = _recording_engine(on("B", lambda obj, eng: eng.halt()))
    with pytest.raises(HaltProcessing):
        eng.process(["A", "B", "C"])
    assert calls_of(eng) == [
        ("before_processing",),
        *_object_calls("A", ["t1", "X"], ("after_object", "A")),
        *_object_calls("B", ["t1", "X"], ("HaltProcessing", "B")),
    ]


def test_hook_order_with_an_error():
    eng = _recording_engine(_fail_on_b(ValueError("boom")))
    with pytest.raises(ValueError):
        eng.process(["A", "B", "C"])
    assert calls_of(eng) == [
        ("before_processing",),
        *_object_calls("A", ["t1", "X"], ("after_object", "A")),
        *_object_calls("B", ["t1", "X"], ("Exception", "B", "ValueError")),
    ]


def test_hook_order_with_a_continue_and_a_jump_token():
    def control(obj, eng):
        if obj == "A":
            eng.continue_next_token()
        if obj == "B":
            eng.jump_token(2)

    eng = _recording_engine(control)
    eng.process(["A", "B", "C", "D"])
    assert calls_of(eng) == [
        ("before_processing",),
        *_object_calls("A", ["t1", "X"], ("ContinueNextToken", "A")),
        *_object_calls("B", ["t1", "X"], ("JumpToken", "B")),
        *_object_calls("D", ["t1", "X"], ("after_object", "D")),
        ("after_processing",),
    ]


def test_hook_order_after_a_halt_and_restart():
    eng = _recording_engine(on("A", once("halted", lambda obj, eng: eng.halt())))
    with pytest.raises(HaltProcessing):
        eng.process(["A", "B"])
    calls_of(eng).clear()
    eng.restart("current", "next")
    assert calls_of(eng) == [
        ("before_processing",),
        ("before_object", "A"),
        ("before_callbacks", "A"),
        ("after_callbacks", "A"),
        ("after_object", "A"),
        *_object_calls("B", ["t1", "X"], ("after_object", "B")),
        ("after_processing",),
    ]


def test_an_object_without_tasks_runs_no_callback_hooks_and_no_after_object():
    class Engine(RecordingEngine):
        def callback_chooser(self, obj):
            return None if obj == "B" else self.callbacks.get("*")

    eng = Engine()
    eng.callbacks.replace([task("t1")])
    eng.process(["A", "B", "C"])
    assert trace_of(eng) == [("A", "t1"), ("C", "t1")]
    assert calls_of(eng) == [
        ("before_processing",),
        *_object_calls("A", ["t1"], ("after_object", "A")),
        ("before_object", "B"),
        *_object_calls("C", ["t1"], ("after_object", "C")),
        ("after_processing",),
    ]


def test_before_processing_sets_the_objects_and_after_processing_the_flag():
    seen = []

    class Factory(ProcessingFactory):
        @classmethod
        def before_object(cls, eng, objects, obj):
            seen.append((eng.objects is objects, eng.state.current_object_processed))

    class Engine(GenericWorkflowEngine):
        processing_factory = Factory

    eng = Engine()
    eng.callbacks.replace([task("t1")])
    eng.state.current_object_processed = True
    objects = ["A"]
    eng.process(objects, reset_state=False)
    assert seen == [(True, False)]
    assert eng.state.current_object_processed is True


# -- lean and hooked task loops -------------------------------------------------------


NESTED = [task("t1"), [task("t2"), [task("t3")], task("t4")], task("t5")]
NESTED_NAMES = ("t1", "t2", "t3", "t4", "t5")


def test_an_overridden_execute_callback_is_called_for_every_task():
    eng = ExecuteCallbackEngine()
    eng.callbacks.replace(NESTED)
    eng.process(["A", "B"])
    assert eng.extra_data["executed"] == _full(["A", "B"], NESTED_NAMES)
    assert trace_of(eng) == _full(["A", "B"], NESTED_NAMES)


def test_an_execute_callback_set_on_the_instance_is_called_for_every_task():
    eng = _engine(definition=NESTED)
    executed = []

    def execute(callback, obj):
        executed.append((obj, callback.__name__))
        callback(obj, eng)

    eng.execute_callback = execute
    eng.process(["A", "B"])
    assert executed == _full(["A", "B"], NESTED_NAMES)


@pytest.mark.parametrize(
    ("action", "error"),
    [
        (lambda obj, eng: eng.halt(), HaltProcessing),
        (_fail_on_b(ValueError("boom")), ValueError),
        (_fail_on_b(WorkflowError("bad")), WorkflowError),
    ],
    ids=["halt", "ValueError", "WorkflowError"],
)
def test_each_hooks_come_in_pairs_when_the_task_raises(action, error):
    eng = RecordingEngine()
    eng.callbacks.replace([task("t1"), [task("X", on("B", action))], task("t3")])
    with pytest.raises(error):
        eng.process(["A", "B"])
    b_calls = [call for call in calls_of(eng) if "B" in call]
    assert b_calls[:6] == [
        ("before_object", "B"),
        ("before_callbacks", "B"),
        ("before_each", "t1", "B"),
        ("after_each", "t1", "B"),
        ("before_each", "X", "B"),
        ("after_each", "X", "B"),
    ]


@pytest.mark.parametrize(
    "control",
    [
        lambda eng: eng.break_current_loop(),
        lambda eng: eng.jump_call(5),
        lambda eng: eng.jump_token(1),
    ],
    ids=["break_current_loop", "jump_call", "jump_token"],
)
def test_each_hooks_come_in_pairs_around_control_tasks(control):
    eng = RecordingEngine()
    eng.callbacks.replace([[task("X", lambda obj, eng: control(eng)), task("t2")]])
    eng.process(["A"])
    each = [call for call in calls_of(eng) if call[0].endswith("_each")]
    assert each == [("before_each", "X", "A"), ("after_each", "X", "A")]


def _debug_records(caplog, eng):
    return [
        r
        for r in caplog.records
        if r.name == eng.log.name and r.levelno == logging.DEBUG
    ]


def test_debug_logging_logs_every_task_by_name(caplog):
    eng = _engine(definition=NESTED)
    caplog.set_level(logging.DEBUG, logger=eng.log.name)
    eng.process(["A"])
    logged = [
        [name for name in NESTED_NAMES if name in r.getMessage()]
        for r in _debug_records(caplog, eng)
    ]
    assert logged == [[name] for name in NESTED_NAMES]
    assert trace_of(eng) == _full(["A"], NESTED_NAMES)


def test_debug_logging_records_each_task_position(caplog):
    eng = _engine(definition=NESTED)
    caplog.set_level(logging.DEBUG, logger=eng.log.name)
    eng.process(["A"])
    messages = [r.getMessage() for r in _debug_records(caplog, eng)]
    positions = ["[0]", "[1, 0]", "[1, 1, 0]", "[1, 2]", "[2]"]
    assert len(messages) == len(positions)
    # The record's arguments must not change after the task ran, or handlers
    # that format later (caplog, QueueHandler) show the wrong position.
    assert [p for p, m in zip(positions, messages) if p not in m] == []


def test_no_debug_record_when_debug_is_off(caplog):
    eng = _engine(definition=NESTED)
    caplog.set_level(logging.INFO, logger=eng.log.name)
    eng.process(["A"])
    assert caplog.records == []


@engine_classes
def test_callable_objects_and_partials_are_tasks(engine_class):
    class Task:
        __name__ = "callable"

        def __call__(self, obj, eng):
            trace_of(eng).append((obj, "callable"))

    def with_arg(name, obj, eng):
        trace_of(eng).append((obj, name))

    eng = _engine(engine_class, [Task(), [functools.partial(with_arg, "partial")]])
    eng.process(["A"])
    assert trace_of(eng) == [("A", "callable"), ("A", "partial")]


def _control(name, decide):
    def decider(obj, eng):
        trace_of(eng).append((obj, name))
        return decide(obj, eng)

    def control(obj, eng):
        step = decider(obj, eng)
        if step is BREAK_LEVEL:
            eng.break_current_loop()
        if step is not None:
            eng.jump_call(step)

    return Pattern(name, control=True, decide=decider).attach(control)


@engine_classes
def test_control_tasks_move_the_engine_as_jump_call_and_break(engine_class):
    jump_once = once("jumped", lambda obj, eng: 2)
    eng = _engine(
        engine_class,
        [
            task("t1"),
            _control("go_on", lambda obj, eng: None),
            _control("skip_one", lambda obj, eng: jump_once(obj, eng)),
            task("skipped"),
            [task("t2"), _control("leave", lambda obj, eng: BREAK_LEVEL), task("t3")],
            task("t4"),
        ],
    )
    eng.process(["A", "B"])
    assert trace_of(eng) == [
        ("A", "t1"),
        ("A", "go_on"),
        ("A", "skip_one"),
        ("A", "t2"),
        ("A", "leave"),
        ("A", "t4"),
        ("B", "t1"),
        ("B", "go_on"),
        ("B", "skip_one"),
        ("B", "skipped"),
        ("B", "t2"),
        ("B", "leave"),
        ("B", "t4"),
    ]


def test_a_wrapper_copying_a_control_task_attributes_is_an_ordinary_task():
    control = _control("leave", lambda obj, eng: BREAK_LEVEL)

    @functools.wraps(control)
    def wrapper(obj, eng):
        return control(obj, eng)

    assert pattern_of(control) is control.workflow_pattern
    assert wrapper.workflow_pattern is control.workflow_pattern
    assert pattern_of(wrapper) is None
    assert repr(BREAK_LEVEL) == "BREAK_LEVEL"


@engine_classes
def test_an_overridden_run_callbacks_runs_each_object(engine_class):
    class Engine(engine_class):
        def run_callbacks(self, callbacks, objects, obj, indent=0):
            trace_of(self).append((obj, "run_callbacks"))
            super().run_callbacks(callbacks, objects, obj, indent)

    eng = _engine(Engine)
    eng.process(["A", "B"])
    assert trace_of(eng) == [
        ("A", "run_callbacks"),
        ("A", "t1"),
        ("A", "t2"),
        ("B", "run_callbacks"),
        ("B", "t1"),
        ("B", "t2"),
    ]


@engine_classes
def test_run_callbacks_called_directly_runs_the_definition(engine_class):
    eng = engine_class()
    eng.run_callbacks(NESTED, ["A"], "A")
    assert trace_of(eng) == _full(["A"], NESTED_NAMES)


@engine_classes
def test_an_overridden_callback_chooser_picks_the_definition(engine_class):
    class Engine(engine_class):
        def callback_chooser(self, obj):
            return self.callbacks.get(obj[0])

    eng = Engine()
    eng.callbacks.replace([task("x")], "x")
    eng.callbacks.replace([task("y")], "y")
    eng.process(["x1", "y1", "x2"])
    assert trace_of(eng) == [("x1", "x"), ("y1", "y"), ("x2", "x")]


@engine_classes
def test_an_empty_saved_position_starts_at_the_first_task(engine_class):
    eng = _engine(engine_class)
    eng.state.callback_pos = []
    eng.process(["A"], reset_state=False)
    assert trace_of(eng) == _full(["A"])


@engine_classes
def test_a_saved_position_past_a_shortened_definition_ends_that_object(engine_class):
    eng = _engine(
        engine_class,
        [task("t1"), [task("t2"), task("H", on("A", lambda obj, eng: eng.halt()))]],
    )
    with pytest.raises(HaltProcessing):
        eng.process(["A", "B"])
    eng.callbacks.replace([task("t1")])
    trace_of(eng).clear()
    eng.restart("current", "current")
    assert trace_of(eng) == [("B", "t1")]


@engine_classes
def test_a_saved_position_that_no_longer_fits_the_definition_raises(engine_class):
    eng = _engine(
        engine_class,
        [task("t1"), [task("t2"), task("H", on("A", lambda obj, eng: eng.halt()))]],
    )
    with pytest.raises(HaltProcessing):
        eng.process(["A", "B"])
    eng.callbacks.replace([task("t1"), task("t2")])
    with pytest.raises(WorkflowError) as info:
        eng.restart("current", "current")
    assert "[1, 1]" in info.value.message
    assert "t2" in info.value.message


# -- properties (6.9) ------------------------------------------------------------


def test_current_object_is_none_before_processing():
    assert GenericWorkflowEngine().current_object is None


@engine_classes
def test_current_object_is_the_object_being_processed(engine_class):
    seen = []
    eng = _engine(engine_class, [lambda obj, eng: seen.append(eng.current_object)])
    eng.process(["A", "B"])
    assert seen == ["A", "B"]
    assert eng.current_object == "B"


@pytest.mark.parametrize(
    ("run", "completed"),
    [
        (lambda eng: None, False),
        (lambda eng: eng.process(["A", "B"]), True),
        (lambda eng: eng.process([]), False),
    ],
    ids=["never run", "run to the end", "empty list"],
)
def test_has_completed(run, completed):
    eng = _engine()
    run(eng)
    assert eng.has_completed is completed


def test_has_completed_is_false_after_a_halt_on_the_last_object():
    eng = _engine(definition=[lambda obj, eng: eng.halt()])
    with pytest.raises(HaltProcessing):
        eng.process(["A"])
    assert eng.has_completed is False


def test_has_completed_is_false_after_a_stop_before_the_last_object():
    eng = _engine(definition=[lambda obj, eng: eng.stop()])
    eng.process(["A", "B"])
    assert eng.has_completed is False


def _taskname_engine():
    def halt(obj, eng):
        eng.halt()

    eng = GenericWorkflowEngine()
    eng.callbacks.replace([task("t0"), [task("t10"), [halt, task("t111")]]])
    return eng


def test_current_taskname_of_the_halting_task():
    eng = _taskname_engine()
    with pytest.raises(HaltProcessing):
        eng.process(["A"])
    assert eng.current_taskname == "halt"


@pytest.mark.parametrize(
    ("callback_pos", "expected"),
    [
        ([0], "t0"),
        ([0, 4, 2], "t0"),
        ([1, 0], "t10"),
        ([1, 1, 1], "t111"),
        ([9], None),
    ],
)
def test_current_taskname_follows_callback_pos(callback_pos, expected):
    eng = _taskname_engine()
    eng.state.callback_pos = callback_pos
    assert eng.current_taskname == expected


def test_current_taskname_of_a_block_is_its_str():
    eng = _taskname_engine()
    eng.state.callback_pos = [1]
    block = eng.callbacks.get("*")[1]
    assert eng.current_taskname == str(block)


def test_current_taskname_of_a_callable_without_a_name_is_its_repr():
    partial = functools.partial(print)
    eng = GenericWorkflowEngine()
    eng.callbacks.replace([partial])
    assert eng.current_taskname == repr(partial)


def test_callback_chooser_gives_the_default_definition():
    eng = _engine()
    assert eng.callback_chooser("A") is eng.callbacks.get("*")


def test_init_logger_is_named_after_the_engine_class():
    class MyEngine(GenericWorkflowEngine):
        pass

    assert GenericWorkflowEngine().log.name == "workflow.engine.GenericWorkflowEngine"
    assert MyEngine().log.name == f"workflow.{__name__}.{MyEngine.__qualname__}"


@pytest.mark.parametrize(
    ("definition", "position"),
    [
        ([task("t1"), task("t2"), task("t3")], [2]),
        ([task("t1"), [task("t2"), task("t3")]], [1]),
        ([[task("t1"), task("t2")], task("t3")], [1]),
    ],
    ids=["flat", "ends in a block", "starts with a block"],
)
def test_a_level_that_ends_points_at_its_last_item(definition, position):
    seen = []

    class Mapper(ActionMapper):
        @classmethod
        def after_callbacks(cls, obj, eng):
            seen.append(list(eng.state.callback_pos))

    class Factory(ProcessingFactory):
        action_mapper = Mapper

    class Engine(GenericWorkflowEngine):
        processing_factory = Factory

    eng = Engine()
    eng.callbacks.replace(definition)
    eng.process(["A"])
    assert seen == [position]
    assert eng.state.callback_pos == [0]


def _is_left_by_a_run(garbage):
    """Whether a garbage object comes from running tasks: an exception, or a
    frame of the package or of this module (other threads of the test
    process, a server's client say, may leave garbage of their own)."""
    if isinstance(garbage, BaseException):
        return True
    if isinstance(garbage, types.FrameType):
        filename = garbage.f_code.co_filename
        return filename == __file__ or filename.startswith(PACKAGE_DIRECTORY)
    return False


def _cycles_left_by(run):
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(10):
            run()
        gc.collect()
        return sum(1 for garbage in gc.garbage if _is_left_by_a_run(garbage))
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def test_a_halt_leaves_no_reference_cycle():
    def halt(obj, eng):
        eng.halt("stop here")

    eng = GenericWorkflowEngine()
    eng.callbacks.replace([halt])

    def run():
        with pytest.raises(HaltProcessing):
            eng.process([object()])

    assert _cycles_left_by(run) == 0


def test_a_task_error_leaves_no_reference_cycle():
    def fail(obj, eng):
        raise ValueError("bad object")

    eng = GenericWorkflowEngine()
    eng.callbacks.replace([fail])

    def run():
        with pytest.raises(ValueError, match="bad object"):
            eng.process([object()])

    assert _cycles_left_by(run) == 0


# --------------------------------------------------------------------------
# Edge cases: task __eq__, restart then jump (hooked loop), pickling after a
# run, iterables through __getitem__


class _NoopEachMapper(ActionMapper):
    @staticmethod
    def before_each_callback(eng: Any, callback: Any, obj: Any) -> None:
        """A no-op override: forces the hooked task loop."""


class _HookedFactory(ProcessingFactory):
    @classproperty
    def action_mapper(cls) -> Any:
        return _NoopEachMapper


class NamedStep:
    """A callable task class with an ordinary (type-assuming) ``__eq__``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, obj: Any, eng: Any) -> None:
        trace_of(eng).append((obj, self.name))

    def __eq__(self, other: Any) -> bool:
        return self.name == other.name

    def __hash__(self) -> int:
        return hash(self.name)


def test_lean_loop_runs_callable_tasks_with_their_own_eq_on_a_second_run():
    # Checking the compiled program against the definition must never hand
    # a task's __eq__ one of the engine's own objects.
    steps = [NamedStep("a"), NamedStep("b")]
    eng = GenericWorkflowEngine()
    eng.callbacks.replace(steps)
    eng.process([1])
    eng.process([2])
    assert trace_of(eng) == [(1, "a"), (1, "b"), (2, "a"), (2, "b")]


def test_lean_loop_runs_a_nested_definition_of_callable_tasks_twice():
    steps = [NamedStep("a"), [NamedStep("b")]]
    eng = GenericWorkflowEngine()
    eng.callbacks.replace(steps)
    eng.process([1])
    eng.process([2])
    assert trace_of(eng) == [(1, "a"), (1, "b"), (2, "a"), (2, "b")]


class _ObjectHookFactory(ProcessingFactory):
    @staticmethod
    def before_object(eng, objects, obj):
        """Any object hook: the general object loop, still without task hooks."""


class ObjectHookEngine(GenericWorkflowEngine):
    @classproperty
    def processing_factory(cls):
        return _ObjectHookFactory


def _replace_first_task(obj, eng):
    trace_of(eng).append((obj, "replace"))
    if obj == 1:
        eng.callbacks.get("*")[0] = task("plain")


@pytest.mark.parametrize(
    "engine_class", [GenericWorkflowEngine, ObjectHookEngine], ids=["lean", "objects"]
)
def test_a_task_whose_eq_refuses_its_replacement_is_replaced_for_the_next_object(
    engine_class,
):
    # NamedStep.__eq__ raises AttributeError on a plain function: the change
    # is still noticed, and no error reaches the object.
    eng = engine_class()
    eng.callbacks.replace([NamedStep("a"), _replace_first_task])
    eng.process([1, 2])
    assert trace_of(eng) == [(1, "a"), (1, "replace"), (2, "plain"), (2, "replace")]


def _put_named_step_first(obj, eng):
    trace_of(eng).append((obj, "replace"))
    if obj == 1:
        eng.callbacks.get("*")[0] = NamedStep("named")


@pytest.mark.parametrize(
    "engine_class", [GenericWorkflowEngine, ObjectHookEngine], ids=["lean", "objects"]
)
def test_a_task_replaced_by_one_whose_eq_refuses_it_runs_the_new_one(engine_class):
    # The block makes the definition one the engine keeps for itself, and
    # checks in full against its compiled copy.
    eng = engine_class()
    eng.callbacks.replace([task("plain"), [task("inner")], _put_named_step_first])
    eng.process([1, 2])
    assert trace_of(eng) == [
        (1, "plain"),
        (1, "inner"),
        (1, "replace"),
        (2, "named"),
        (2, "inner"),
        (2, "replace"),
    ]


class _CountingHookedFactory(_HookedFactory):
    @staticmethod
    def after_processing(eng: Any, objects: Any) -> None:
        eng.extra_data["after_processing"] = (
            eng.extra_data.get("after_processing", 0) + 1
        )
        ProcessingFactory.after_processing(eng, objects)


class _CountingHookedEngine(GenericWorkflowEngine):
    @classproperty
    def processing_factory(cls) -> Any:
        return _CountingHookedFactory


def _restart_then(control: str):
    def restarter(obj: Any, eng: Any) -> None:
        trace_of(eng).append((obj, "restarter"))
        if obj == 1 and not eng.extra_data.get("restarted"):
            eng.extra_data["restarted"] = True
            eng.restart("next", "first")
            if control == "jump_call(1)":
                eng.jump_call(1)
            elif control == "jump_call(5)":
                eng.jump_call(5)
            else:
                eng.break_current_loop()

    restarter.__name__ = "restarter"
    return restarter


@pytest.mark.parametrize("control", ["jump_call(1)", "jump_call(5)", "break"])
def test_hooked_restart_from_a_task_then_a_jump_ends_the_outer_run(control):
    # The task's own restart finished the work: the jump or break after it
    # must not let the outer run go on (SPEC 6.8).
    eng = _CountingHookedEngine()
    eng.callbacks.replace([task("a"), [_restart_then(control), task("c")], task("d")])
    eng.process([1, 2])
    assert trace_of(eng) == [
        (1, "a"),
        (1, "restarter"),
        (2, "a"),
        (2, "restarter"),
        (2, "c"),
        (2, "d"),
    ]
    assert eng.extra_data["after_processing"] == 1


class _LambdaHookMapper(ActionMapper):
    # A hook written inline: a lambda is not picklable by reference.
    before_each_callback = staticmethod(lambda eng, callback, obj: None)


class _LambdaHookFactory(ProcessingFactory):
    @classproperty
    def action_mapper(cls) -> Any:
        return _LambdaHookMapper


class LambdaHookEngine(GenericWorkflowEngine):
    """A module-level engine (picklable) whose per-task hook is a lambda."""

    @classproperty
    def processing_factory(cls) -> Any:
        return _LambdaHookFactory


def _noop(obj: Any, eng: Any) -> None:
    """A module-level (picklable) task."""


def test_an_engine_that_pickles_before_a_run_still_pickles_after_it():
    # The per-task hooks a run stores (a lambda here) are not pickled.
    eng = LambdaHookEngine()
    eng.callbacks.replace([_noop])
    pickle.dumps(eng)
    eng.process([1])
    restored = pickle.loads(pickle.dumps(eng))
    assert restored.state.token_pos == 0
    assert set(vars(restored)) == set(vars(LambdaHookEngine()))


class _OldStyleIterable:
    """Iterable through the sequence protocol (__getitem__), as iter() allows."""

    def __getitem__(self, index: int) -> str:
        if index < 2:
            return "AB"[index]
        raise IndexError(index)


@pytest.mark.parametrize(
    "engine_class",
    [GenericWorkflowEngine, ExecuteCallbackEngine],
    ids=["lean", "hooked"],
)
def test_process_reads_an_iterable_that_only_has_getitem(engine_class):
    eng = engine_class()
    eng.callbacks.replace([task("t")])
    eng.process(_OldStyleIterable())
    assert eng.objects == ["A", "B"]
    assert trace_of(eng) == [("A", "t"), ("B", "t")]
