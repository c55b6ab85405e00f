"""The compiled programs of the engine's lean loop (``workflow._program``).

The lean loop must do exactly what the general, hooked loop does; the
property below compares the two from any starting position. The other
tests pin down when a compiled program is rebuilt or shared.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import ExecuteCallbackEngine
from tests.strategies import definitions, new_engine, objects
from tests.test_properties import PROFILE, HookedEngine, RecordingMapper
from workflow import engine as engine_module
from workflow._program import CONSTANT, SEGMENT, TASK, TEST, Program
from workflow.engine import (
    ActionMapper,
    GenericWorkflowEngine,
    HaltProcessing,
    ProcessingFactory,
)
from workflow.errors import WorkflowError
from workflow.patterns.controlflow import (
    CHOICE,
    IF_ELSE,
    TASK_JUMP_BWD,
    TASK_JUMP_FWD,
    WHILE,
)
from workflow.utils import classproperty


def _outcome(eng: GenericWorkflowEngine, run: Any) -> tuple[Any, ...]:
    """Run ``run()``; return what it raised, the trace and the final state."""
    try:
        run()
        end = "finished"
    except (HaltProcessing, ValueError, WorkflowError) as exc:
        # Each engine has its own tasks: their addresses differ.
        end = re.sub(r" at 0x[0-9a-f]+", "", f"{type(exc).__name__}: {exc}")
    trace = [
        e for e in eng.extra_data.get("trace", []) if e[0] not in ("before", "after")
    ]
    return end, trace, eng.state.token_pos, list(eng.state.callback_pos)


def _record_end(obj: Any, eng: Any) -> None:
    """``after_callbacks``: record where the definition's run ended."""
    eng.extra_data.setdefault("trace", []).append(["end", list(eng.state.callback_pos)])


class EndMapper(ActionMapper):
    """Records ``callback_pos`` after each object's run (no per-task hook)."""

    after_callbacks = staticmethod(_record_end)


class HookedEndMapper(RecordingMapper):
    """Records the per-task hooks and ``callback_pos`` after each object's run."""

    after_callbacks = staticmethod(_record_end)


def _engine_with(mapper: type[ActionMapper], base: type[GenericWorkflowEngine]) -> Any:
    class Factory(ProcessingFactory):
        @classproperty
        def action_mapper(cls) -> Any:
            return mapper

    class Engine(base):  # type: ignore[valid-type, misc]
        @classproperty
        def processing_factory(cls) -> Any:
            return Factory

    return Engine


# The lean object loop; the general object loop running the compiled program
# (an after_callbacks hook sees where each run ended); and the reference: the
# general object loop with the hooked task loop.
ENGINE_PAIRS = (
    (GenericWorkflowEngine, HookedEngine),
    (
        _engine_with(EndMapper, GenericWorkflowEngine),
        _engine_with(HookedEndMapper, GenericWorkflowEngine),
    ),
)


@PROFILE
@given(
    spec=definitions(),
    objs=objects(),
    token_pos=st.integers(-1, 2),
    callback_pos=st.lists(st.integers(-2, 5), min_size=1, max_size=4),
    pair=st.sampled_from(ENGINE_PAIRS),
)
def test_compiled_program_resumes_any_position_as_the_hooked_loop(
    spec, objs, token_pos, callback_pos, pair
):
    results = []
    for engine_class in pair:
        eng = new_engine(spec, engine_class)
        eng.state.token_pos = token_pos
        eng.state.callback_pos = list(callback_pos)
        data = copy.deepcopy(objs)
        results.append(
            _outcome(
                eng, lambda eng=eng, data=data: eng.process(data, reset_state=False)
            )
        )
    assert results[0] == results[1]


def _named(name: str, log: list[str]) -> Any:
    def task(obj: Any, eng: Any) -> None:
        log.append(name)

    task.__name__ = name
    return task


def test_a_task_adding_to_the_definition_is_seen_from_the_next_object():
    log: list[str] = []
    added = _named("added", log)

    def add(obj: Any, eng: Any) -> None:
        log.append(f"add {obj}")
        if obj == "A":
            eng.callbacks.add(added)

    eng = GenericWorkflowEngine()
    eng.callbacks.replace([add])
    eng.process(["A", "B"])
    assert log == ["add A", "add B", "added"]


def test_a_block_changed_in_place_between_runs_is_seen_by_the_next_run():
    log: list[str] = []
    eng = GenericWorkflowEngine()
    eng.callbacks.replace([_named("a", log), [_named("b", log)]])
    eng.process(["X"])
    eng.callbacks.get()[1].append(_named("c", log))
    eng.process(["X"])
    assert log == ["a", "b", "a", "b", "c"]


@dataclass
class EqualTask:
    """A callable that compares equal to any other with the same name."""

    name: str
    log: list[str]

    def __call__(self, obj: Any, eng: Any) -> None:
        self.log.append(f"{self.name}@{id(self)}")


def test_an_equal_but_different_task_is_run_itself():
    log: list[str] = []
    first, second = EqualTask("t", log), EqualTask("t", log)
    assert first == second
    eng = GenericWorkflowEngine()
    eng.callbacks.replace([first])
    eng.process(["X"])
    eng.callbacks.replace([second])
    eng.process(["X"])
    assert log == [f"t@{id(first)}", f"t@{id(second)}"]


def test_engines_share_the_program_of_the_same_plain_list(monkeypatch):
    compiled = []

    class CountingProgram(Program):
        __slots__ = ()

        def __init__(self, definition: Any) -> None:
            compiled.append(definition)
            super().__init__(definition)

    monkeypatch.setattr(engine_module, "Program", CountingProgram)
    monkeypatch.setattr(engine_module, "_SHARED_PROGRAMS", {})
    log: list[str] = []
    task = _named("t", log)
    for _ in range(3):
        eng = GenericWorkflowEngine()
        eng.callbacks.replace([task, task])
        eng.process([1])
    assert log == ["t"] * 6
    assert compiled == [[task, task]]
    assert list(engine_module._SHARED_PROGRAMS) == [(task, task)]


def test_patterns_compile_to_tests_and_constant_jumps():
    def cond(obj: Any, eng: Any) -> bool:
        return True

    def work(obj: Any, eng: Any) -> None:
        pass

    definition = GenericWorkflowEngine().callbacks
    definition.replace([work, work, WHILE(cond, [work]), IF_ELSE(cond, work, work)])
    program = Program(definition.get())
    kinds = [(op[0], op[2]) for op in program.ops]
    assert kinds == [
        (SEGMENT, (0,)),
        (TEST, (2, 0)),
        (TASK, (2, 1)),
        (CONSTANT, (2, 2)),
        (TEST, (3, 0)),
        (TASK, (3, 1)),
        (CONSTANT, (3, 2)),
        (TASK, (3, 3)),
    ]
    # WHILE: true goes on with the body, false leaves the block (to IF_ELSE);
    # the jump back lands on the test.
    assert program.ops[1][5:] == ((2, -1), (4, -1))
    assert program.ops[3][5] == (1, 2 - 2)
    # IF_ELSE: true runs branch1, false jumps to branch2; BREAK ends the run.
    assert program.ops[4][5:] == ((5, -1), (7, 3))
    assert program.ops[6][5] == (8, -1)


def test_a_constant_jump_back_that_was_handed_over_keeps_its_decide():
    jump = TASK_JUMP_BWD(-2)
    assert jump.outcomes == (-2, -2)
    assert jump.decide(None, None) == -2


def test_a_hooked_engine_still_calls_every_task_the_lean_loop_skips_calling():
    eng = ExecuteCallbackEngine()
    calls = {"n": 0}

    def cond(obj: Any, eng: Any) -> bool:
        calls["n"] += 1
        return calls["n"] < 3

    eng.callbacks.replace([WHILE(cond, [_named("body", [])])])
    eng.process(["X"])
    names = [name for _, name in eng.extra_data["executed"]]
    assert names == ["WHILE", "body", "TASK_JUMP_BWD"] * 2 + ["WHILE"]


def _jumping(offset: int) -> Any:
    def jump(obj: Any, eng: Any) -> None:
        eng.jump_call(offset)

    return jump


@pytest.mark.parametrize("offset", [-9, -1, 1, 2, 3, 9])
@pytest.mark.parametrize("nested", [False, True])
def test_a_jump_past_either_end_ends_where_the_hooked_loop_ends(offset, nested):
    ends = []
    for engine_class in ENGINE_PAIRS[1]:
        eng = engine_class()
        body = [_named("a", []), _once(_jumping(offset)), _named("c", [])]
        eng.callbacks.replace([body] if nested else body)
        eng.process([{"id": 0}])
        ends.append(eng.extra_data["trace"][-1])
    assert ends[0] == ends[1]


def _once(task: Any) -> Any:
    def run(obj: Any, eng: Any) -> None:
        if not eng.extra_data.get("jumped"):
            eng.extra_data["jumped"] = True
            task(obj, eng)

    return run


def test_a_condition_restarting_the_engine_ends_the_outer_run():
    log: list[str] = []
    restart_once = _restarting_once(log, "cond", result=True)
    eng = GenericWorkflowEngine()
    eng.callbacks.replace(
        [IF_ELSE(restart_once, _named("yes", log), _named("no", log))]
    )
    eng.process(["A", "B"])
    # The restart from A's condition ran B; A's own run then stopped.
    assert log == ["cond A", "cond B", "yes"]
    assert eng.has_completed is True


def test_a_pickled_engine_leaves_out_what_its_lean_loop_rebuilds():
    import pickle

    eng = GenericWorkflowEngine()
    eng.callbacks.replace([_count, [_count]])
    eng.process([{"n": 0}])
    assert eng._segment is not None
    state = eng.__getstate__()
    for name in ("_program_checked", "_programs", "_segment"):
        assert name not in state
    copy_of_engine = pickle.loads(pickle.dumps(eng))
    copy_of_engine.process([{"n": 0}])
    assert copy_of_engine.objects == [{"n": 2}]


def _count(obj: Any, eng: Any) -> None:
    obj["n"] += 1


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


def test_a_task_of_a_plain_list_restarting_the_engine_ends_the_outer_run():
    log: list[str] = []
    eng = GenericWorkflowEngine()
    eng.callbacks.replace(
        [_named("t1", log), _restarting_once(log, "R"), _named("t2", log)]
    )
    eng.process(["A", "B"])
    # The restart from A's R ran B whole; A's own run then stopped.
    assert log == ["t1", "R A", "t1", "R B", "t2"]
    assert eng.has_completed is True


def test_a_choice_arbiter_restarting_the_engine_ends_the_outer_run():
    log: list[str] = []
    eng = GenericWorkflowEngine()
    arbiter = _restarting_once(log, "arbiter", result="x")
    eng.callbacks.replace([CHOICE(arbiter, ("x", _named("x", log)))])
    eng.process(["A", "B"])
    assert log == ["arbiter A", "arbiter B", "x"]
    assert eng.has_completed is True


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


@pytest.mark.parametrize("engine_class", [GenericWorkflowEngine, ExecuteCallbackEngine])
def test_run_callbacks_runs_a_block_at_the_nesting_level_given(engine_class):
    log: list[str] = []

    def where(name: str) -> Any:
        def task(obj: Any, eng: Any) -> None:
            log.append(f"{name} {eng.state.callback_pos}")

        return task

    eng = engine_class()
    eng.callbacks.replace([where("unused")])
    eng.state.callback_pos = [3, 1]
    eng.run_callbacks([where("a"), where("b"), where("c")], ["X"], "X", 1)
    assert log == ["b [3, 1]", "c [3, 2]"]
    assert eng.state.callback_pos == [3, 2]


@pytest.mark.parametrize(
    "callback_pos",
    [[1, 5], [1, 2], [1, 1], [1, 0, 0], [1, 7, 0], [1, -1, 3], [2, 0], [5], [-3]],
)
def test_resuming_inside_or_past_a_block_goes_on_as_the_hooked_loop(callback_pos):
    outcomes = []
    for engine_class in ENGINE_PAIRS[1]:
        log: list[str] = []
        eng = engine_class()
        eng.callbacks.replace(
            [_named("a", log), [_named("b", log), _named("c", log)], _named("d", log)]
        )
        eng.state.token_pos = -1
        eng.state.callback_pos = list(callback_pos)
        outcomes.append(
            _outcome(eng, lambda eng=eng: eng.process([{"id": 0}], reset_state=False))
        )
        outcomes[-1] += (log,)
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize(
    ("offset", "end"), [(-9, [2]), (1, [2]), (2, [2]), (3, [3]), (9, [3])]
)
def test_a_jump_past_the_end_of_the_definition_leaves_the_clamped_position(offset, end):
    # [a, jump, c]: a jump lands at most one past the end, so callback_pos
    # ends at most at the definition's size.
    for engine_class in ENGINE_PAIRS[1]:
        eng = engine_class()
        body = [_named("a", []), _once(_jumping(offset)), _named("c", [])]
        eng.callbacks.replace(body)
        eng.process([{"id": 0}])
        assert eng.extra_data["trace"][-1] == ["end", end]


def test_a_loop_of_constant_jumps_compiles_and_is_left_in_place():
    # TASK_JUMP_FWD(0) jumps to itself: going past it would never end.
    work = _named("work", [])
    program = Program([work, TASK_JUMP_FWD(0)])
    assert [op[0] for op in program.ops] == [TASK, CONSTANT]
    assert program.ops[0][5] == (1, 1)
    assert program.ops[1][5] == (1, 1)
