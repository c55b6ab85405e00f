"""The one task interpreter (``workflow._run``): the same run in every configuration.

The task loop is the same whatever the run's hooks; these tests pin the
rules it holds (jumps, breaks, resumes, end positions, changes made to the
running definition) and compare whole runs across the configurations of
``tests/configurations.py``.
"""

from __future__ import annotations

import copy
import pickle
import re
import threading
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.configurations import CONFIGURATIONS
from tests.strategies import PROFILE, SLOW_PROFILE, definitions, new_engine, objects
from workflow.engine import GenericWorkflowEngine, HaltProcessing
from workflow.errors import WorkflowAPIError
from workflow.patterns.controlflow import (
    CHOICE,
    IF_ELSE,
    TASK_JUMP_FWD,
    TASK_JUMP_IF,
    WHILE,
)

configurations = pytest.mark.parametrize(
    "engine_class", list(CONFIGURATIONS.values()), ids=list(CONFIGURATIONS)
)

MAX_RESUMES = 20
"""Resumes after halts a compared run makes at most."""


def _described(exc: BaseException) -> str:
    # Each engine has its own tasks: their addresses differ.
    return re.sub(r" at 0x[0-9a-f]+", "", f"{type(exc).__name__}: {exc}")


def run_and_resume(eng: GenericWorkflowEngine, objs: list[Any]) -> tuple[Any, ...]:
    """Process ``objs``, resuming each halt; return all a run can be compared by.

    That is each stop of the run (the exception and the positions it left),
    the trace of task calls (with the ``callback_pos`` each task saw), the
    final positions and the objects.
    """
    stops: list[Any] = []
    run: Any = lambda: eng.process(objs)  # noqa: E731
    for _ in range(MAX_RESUMES):
        try:
            run()
        except Exception as exc:
            stops.append(
                (_described(exc), eng.state.token_pos, list(eng.state.callback_pos))
            )
            if not isinstance(exc, HaltProcessing):
                break
            run = lambda: eng.restart("current", "next")  # noqa: E731
        else:
            stops.append("finished")
            break
    return (
        stops,
        eng.extra_data.get("trace", []),
        eng.state.token_pos,
        list(eng.state.callback_pos),
        objs,
    )


@SLOW_PROFILE
@given(spec=definitions(changes=True), objs=objects())
def test_every_configuration_runs_a_definition_the_same(spec, objs):
    outcomes = {
        name: run_and_resume(new_engine(spec, engine_class), copy.deepcopy(objs))
        for name, engine_class in CONFIGURATIONS.items()
    }
    plain = outcomes.pop("plain")
    for name, outcome in outcomes.items():
        assert outcome == plain, name


def _from(eng: GenericWorkflowEngine, objs: list[Any]) -> tuple[Any, ...]:
    try:
        eng.process(objs, reset_state=False)
        end = "finished"
    except Exception as exc:
        end = _described(exc)
    return (
        end,
        eng.extra_data.get("trace", []),
        eng.state.token_pos,
        list(eng.state.callback_pos),
    )


@PROFILE
@given(
    spec=definitions(),
    objs=objects(),
    token_pos=st.integers(-1, 2),
    callback_pos=st.lists(st.integers(-2, 5), min_size=1, max_size=4),
)
def test_every_configuration_resumes_any_stored_position_the_same(
    spec, objs, token_pos, callback_pos
):
    outcomes = []
    for name in ("plain", "hooks"):
        eng = new_engine(spec, CONFIGURATIONS[name])
        eng.state.token_pos = token_pos
        eng.state.callback_pos = list(callback_pos)
        outcomes.append(_from(eng, copy.deepcopy(objs)))
    assert outcomes[0] == outcomes[1]


def run_one(eng: GenericWorkflowEngine, obj: Any = "A") -> None:
    """Run the engine's definition on ``obj`` alone, from ``callback_pos``.

    Unlike :meth:`process`, which resets ``callback_pos`` after each object,
    this leaves the position where the definition's run ended.
    """
    eng.run_callbacks(eng.callbacks.get(), [obj], obj)


# --------------------------------------------------------------------------
# Changes to the running definition: the live list is walked by index


def _named(name: str, log: list[str]) -> Any:
    def task(obj: Any, eng: Any) -> None:
        log.append(f"{name} {obj}")

    task.__name__ = name
    return task


@configurations
def test_a_task_added_while_running_is_reached_by_the_current_object(engine_class):
    log: list[str] = []
    added = _named("added", log)

    def add(obj: Any, eng: Any) -> None:
        log.append(f"add {obj}")
        if obj == "A":
            eng.callbacks.add(added)

    eng = engine_class()
    eng.callbacks.replace([add])
    eng.process(["A", "B"])
    assert log == ["add A", "added A", "add B", "added B"]


@configurations
def test_a_task_added_to_a_nested_block_while_running_is_reached(engine_class):
    log: list[str] = []
    added = _named("added", log)

    def add(obj: Any, eng: Any) -> None:
        log.append(f"add {obj}")
        if obj == "A":
            eng.callbacks.get()[0].append(added)

    eng = engine_class()
    eng.callbacks.replace([[add], _named("after", log)])
    eng.process(["A", "B"])
    assert log == ["add A", "added A", "after A", "add B", "added B", "after B"]


@configurations
def test_a_later_task_replaced_by_a_block_runs_as_the_block(engine_class):
    log: list[str] = []

    def replace(obj: Any, eng: Any) -> None:
        log.append(f"replace {obj}")
        eng.callbacks.get()[1] = [_named("x", log), _named("y", log)]

    eng = engine_class()
    eng.callbacks.replace([replace, _named("old", log), _named("last", log)])
    run_one(eng)
    assert log == ["replace A", "x A", "y A", "last A"]
    assert eng.state.callback_pos == [2]


@configurations
def test_a_later_control_task_replaced_by_a_plain_task_runs_as_that_task(
    engine_class,
):
    log: list[str] = []

    def replace(obj: Any, eng: Any) -> None:
        log.append(f"replace {obj}")
        eng.callbacks.get()[1] = _named("plain", log)

    eng = engine_class()
    # Item 1 is a jump over "skipped" until the first task replaces it.
    eng.callbacks.replace(
        [replace, TASK_JUMP_FWD(2), _named("skipped", log), _named("last", log)]
    )
    run_one(eng)
    assert log == ["replace A", "plain A", "skipped A", "last A"]
    assert eng.state.callback_pos == [3]


@configurations
def test_a_later_control_task_replaced_by_another_moves_as_the_new_one(
    engine_class,
):
    log: list[str] = []

    def replace(obj: Any, eng: Any) -> None:
        log.append(f"replace {obj}")
        eng.callbacks.get()[1] = TASK_JUMP_IF(lambda obj, eng: True, 3)

    eng = engine_class()
    eng.callbacks.replace(
        [
            replace,
            TASK_JUMP_FWD(1),
            _named("skipped", log),
            _named("skipped too", log),
            _named("last", log),
        ]
    )
    run_one(eng)
    assert log == ["replace A", "last A"]
    assert eng.state.callback_pos == [4]


@configurations
def test_a_task_removing_the_tasks_after_it_ends_the_definition(engine_class):
    log: list[str] = []

    def cut(obj: Any, eng: Any) -> None:
        log.append(f"cut {obj}")
        del eng.callbacks.get()[1:]

    eng = engine_class()
    eng.callbacks.replace([cut, _named("gone", log), _named("gone too", log)])
    run_one(eng)
    assert (log, eng.state.callback_pos) == (["cut A"], [0])


@dataclass
class EqualTask:
    """A callable that compares equal to any other with the same name."""

    name: str
    log: list[str]

    def __call__(self, obj: Any, eng: Any) -> None:
        self.log.append(f"{self.name}@{id(self)}")


def test_a_task_replaced_in_place_by_an_equal_one_is_run_itself():
    log: list[str] = []
    first, second = EqualTask("t", log), EqualTask("t", log)
    eng = GenericWorkflowEngine()
    eng.callbacks.replace([first, [first]])
    eng.process(["X"])
    definition = eng.callbacks.get()
    definition[0] = second
    definition[1][0] = second
    eng.process(["X"])
    assert log == [f"t@{id(first)}"] * 2 + [f"t@{id(second)}"] * 2


# --------------------------------------------------------------------------
# Positions


def _once(offset: int) -> Any:
    def jump(obj: Any, eng: Any) -> None:
        if not eng.extra_data.get("jumped"):
            eng.extra_data["jumped"] = True
            eng.jump_call(offset)

    return jump


@configurations
@pytest.mark.parametrize(
    ("offset", "ran", "end"),
    [
        (-9, ["a", "a", "c"], [2]),
        (-1, ["a", "a", "c"], [2]),
        (1, ["a", "c"], [2]),
        (2, ["a"], [2]),
        (3, ["a"], [3]),
        (9, ["a"], [3]),
    ],
)
def test_a_jump_lands_within_the_block_or_one_past_its_end(
    engine_class, offset, ran, end
):
    log: list[str] = []
    eng = engine_class()
    eng.callbacks.replace([_named("a", log), _once(offset), _named("c", log)])
    run_one(eng)
    assert ([entry.split()[0] for entry in log], eng.state.callback_pos) == (ran, end)


@configurations
@pytest.mark.parametrize(
    ("callback_pos", "ran", "end"),
    [
        ([1, 1], ["c", "d"], [2]),
        ([1, 0, 0], "WorkflowError", [1, 0, 0]),
        ([1, 5], ["d"], [2]),
        ([1, 7, 0], ["d"], [2]),
        ([1, -1, 3], "WorkflowError", [1, 0, 3]),
        ([1, -1], ["b", "c", "d"], [2]),
        ([2, 0], "WorkflowError", [2, 0]),
        ([5], [], [4]),
        ([-3], ["a", "b", "c", "d"], [2]),
    ],
)
def test_a_stored_position_resumes_inside_or_after_its_block(
    engine_class, callback_pos, ran, end
):
    log: list[str] = []
    eng = engine_class()
    eng.callbacks.replace(
        [_named("a", log), [_named("b", log), _named("c", log)], _named("d", log)]
    )
    eng.state.callback_pos = list(callback_pos)
    try:
        run_one(eng)
    except Exception as exc:
        log = type(exc).__name__  # type: ignore[assignment]
    names = log if isinstance(log, str) else [entry.split()[0] for entry in log]
    assert (names, eng.state.callback_pos) == (ran, end)


@configurations
def test_a_break_at_the_top_level_keeps_the_breaking_task_current(engine_class):
    def leave(obj: Any, eng: Any) -> None:
        eng.break_current_loop()

    eng = engine_class()
    eng.callbacks.replace([_named("a", []), leave, _named("never", [])])
    run_one(eng)
    assert eng.state.callback_pos == [1]


@pytest.mark.parametrize("name", list(CONFIGURATIONS))
def test_run_callbacks_runs_a_block_at_the_nesting_level_given(name):
    log: list[str] = []

    def where(label: str) -> Any:
        def task(obj: Any, eng: Any) -> None:
            log.append(f"{label} {eng.state.callback_pos}")

        return task

    eng = CONFIGURATIONS[name]()
    eng.callbacks.replace([where("unused")])
    eng.state.callback_pos = [3, 1]
    eng.run_callbacks([where("a"), where("b"), where("c")], ["X"], "X", 1)
    assert log == ["b [3, 1]", "c [3, 2]"]
    assert eng.state.callback_pos == [3, 2]


# --------------------------------------------------------------------------
# A task restarting its own engine


def _restarting_once(log: list[str], name: str, result: Any = None) -> Any:
    """A task (or condition) that restarts the engine at the next object, once."""

    def run(obj: Any, eng: Any) -> Any:
        log.append(f"{name} {obj}")
        if obj == "A" and not eng.extra_data.get("restarted"):
            eng.extra_data["restarted"] = True
            eng.restart("next", "first")
        return result

    run.__name__ = name
    return run


@configurations
def test_a_task_restarting_its_engine_ends_the_outer_run(engine_class):
    log: list[str] = []
    eng = engine_class()
    eng.callbacks.replace(
        [_named("t1", log), _restarting_once(log, "R"), _named("t2", log)]
    )
    eng.process(["A", "B"])
    # The restart from A's R ran B whole; A's own run then stopped.
    assert log == ["t1 A", "R A", "t1 B", "R B", "t2 B"]
    assert eng.has_completed is True


@configurations
def test_a_condition_restarting_its_engine_ends_the_outer_run(engine_class):
    log: list[str] = []
    restart_once = _restarting_once(log, "cond", result=True)
    eng = engine_class()
    eng.callbacks.replace(
        [IF_ELSE(restart_once, _named("yes", log), _named("no", log))]
    )
    eng.process(["A", "B"])
    assert log == ["cond A", "cond B", "yes B"]
    assert eng.has_completed is True


@configurations
def test_a_choice_arbiter_restarting_its_engine_ends_the_outer_run(engine_class):
    log: list[str] = []
    arbiter = _restarting_once(log, "arbiter", result="x")
    eng = engine_class()
    eng.callbacks.replace([CHOICE(arbiter, ("x", _named("x", log)))])
    eng.process(["A", "B"])
    assert log == ["arbiter A", "arbiter B", "x B"]
    assert eng.has_completed is True


def test_a_hooked_run_calls_every_pattern_task_through_execute_callback():
    executed: list[str] = []

    class Engine(GenericWorkflowEngine):
        def execute_callback(self, callback: Any, obj: Any) -> None:
            executed.append(callback.__name__)
            super().execute_callback(callback, obj)

    rounds = iter([True, True, False])
    eng = Engine()
    eng.callbacks.replace([WHILE(lambda obj, eng: next(rounds), [_named("b", [])])])
    eng.process(["X"])
    assert executed == ["WHILE", "b", "TASK_JUMP_BWD"] * 2 + ["WHILE"]


def _count(obj: Any, eng: Any) -> None:
    obj["n"] += 1


def test_an_engine_pickled_after_a_run_leaves_out_what_the_run_set_up():
    eng = GenericWorkflowEngine()
    eng.callbacks.replace([_count, [_count]])
    eng.process([{"n": 0}])
    assert eng._segment is not None
    state = eng.__getstate__()
    assert {"_segment", "_run_token", "_run_owner"} & set(state) == set()
    copy_of_engine = pickle.loads(pickle.dumps(eng))
    copy_of_engine.process([{"n": 0}])
    assert copy_of_engine.objects == [{"n": 2}]


# --------------------------------------------------------------------------
# One engine, two threads


def _blocking_engine(started: threading.Event, release: threading.Event) -> Any:
    def wait_on_first(obj: Any, eng: Any) -> None:
        if obj == 0:
            started.set()
            release.wait(30)
        eng.extra_data.setdefault("done", []).append(obj)

    eng = GenericWorkflowEngine()
    eng.callbacks.replace([wait_on_first])
    return eng


@pytest.mark.parametrize("second_call", ["process", "restart"])
def test_a_second_thread_running_the_same_engine_gets_a_clear_error(second_call):
    started, release = threading.Event(), threading.Event()
    eng = _blocking_engine(started, release)
    first = threading.Thread(target=eng.process, args=(list(range(200)),))
    first.start()
    assert started.wait(30)
    state_before = (eng.state.token_pos, list(eng.state.callback_pos))
    try:
        with pytest.raises(WorkflowAPIError) as raised:
            if second_call == "process":
                eng.process(["other"])
            else:
                eng.restart("next", "first")
        assert (eng.state.token_pos, list(eng.state.callback_pos)) == state_before
    finally:
        release.set()
        first.join(30)
    assert str(raised.value) == (
        "<GenericWorkflowEngine objects=200 token_pos=0 callback_pos=[0]> is"
        " already running in another thread; an engine runs one"
        " process() or restart() at a time. Use one engine per thread (create"
        " another engine of the same class for this thread)"
    )
    assert eng.extra_data["done"] == list(range(200))
    assert eng.has_completed is True


def test_an_engine_runs_again_from_another_thread_once_its_run_ended():
    eng = GenericWorkflowEngine()
    eng.callbacks.replace([_count])
    eng.process([{"n": 0}])
    other = threading.Thread(target=eng.process, args=([{"n": 5}],))
    other.start()
    other.join(30)
    assert eng.objects == [{"n": 6}]
