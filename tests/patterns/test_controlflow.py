"""Golden traces, layouts and misuse of ``workflow.patterns.controlflow``."""

from __future__ import annotations

import math

import pytest

from workflow._pattern import BREAK_LEVEL, Pattern
from workflow.engine import GenericWorkflowEngine
from workflow.errors import BreakFromThisLoop, HaltProcessing, JumpCall
from workflow.patterns import controlflow
from workflow.patterns.controlflow import (
    BREAK,
    CHOICE,
    CMP,
    FOR,
    HALT,
    IF,
    IF_ELSE,
    IF_NOT,
    MAX_TIMEOUT,
    OBJ_JUMP_BWD,
    OBJ_JUMP_FWD,
    OBJ_NEXT,
    PARALLEL_SPLIT,
    SIMPLE_MERGE,
    STOP,
    SYNCHRONIZE,
    TASK_JUMP_BWD,
    TASK_JUMP_FWD,
    TASK_JUMP_IF,
    WHILE,
)

from .support import (
    CountingEngine,
    CountingHookedEngine,
    HookedEngine,
    Recorder,
    run,
)


def is_obj(value):
    return lambda obj, eng: obj == value


def nothing(obj, eng):
    pass


def increment(obj, eng):
    obj["n"] += 1


def below(limit):
    return lambda obj, eng: obj["n"] < limit


# --------------------------------------------------------------------------
# Jumps and interrupts


def test_task_jump_fwd_skips_tasks(engine_class, rec):
    definition = [rec.task("a"), TASK_JUMP_FWD(2), rec.task("b"), rec.task("c")]
    run(engine_class, definition, [1])
    assert rec.calls == [(1, "a"), (1, "c")]


def test_task_jump_bwd_and_jump_if_make_a_loop(engine_class, rec):
    definition = [
        rec.task("inc", increment),
        TASK_JUMP_IF(lambda obj, eng: obj["n"] >= 3, 2),
        TASK_JUMP_BWD(-2),
        rec.task("after"),
    ]
    run(engine_class, definition, [{"id": "x", "n": 0}])
    assert rec.calls == [("x", "inc")] * 3 + [("x", "after")]


def test_break_leaves_the_innermost_block(engine_class, rec):
    definition = [
        rec.task("a"),
        [rec.task("b"), BREAK(), rec.task("never")],
        rec.task("d"),
    ]
    run(engine_class, definition, [1])
    assert rec.calls == [(1, "a"), (1, "b"), (1, "d")]


def test_stop_ends_all_processing(engine_class, rec):
    definition = [rec.task("a"), IF(is_obj(1), [STOP()]), rec.task("b")]
    eng = run(engine_class, definition, [1, 2])
    assert rec.calls == [(1, "a")]
    assert eng.state.token_pos == 0


def test_halt_raises_and_resumes_after_the_halt(engine_class, rec):
    eng = engine_class()
    eng.callbacks.replace([rec.task("a"), HALT(), rec.task("b")])
    with pytest.raises(HaltProcessing):
        eng.process([1])
    assert rec.calls == [(1, "a")]
    eng.restart("current", "next")
    assert rec.calls == [(1, "a"), (1, "b")]


def test_obj_next_goes_on_with_the_next_object(engine_class, rec):
    # Section 12 fix 4: OBJ_NEXT used to only break the current block.
    definition = [rec.task("a"), IF(is_obj(1), [OBJ_NEXT()]), rec.task("b")]
    run(engine_class, definition, [1, 2])
    assert rec.calls == [(1, "a"), (2, "a"), (2, "b")]


def test_obj_jump_fwd_skips_objects(engine_class, rec):
    definition = [rec.task("a"), IF(is_obj(1), [OBJ_JUMP_FWD(2)]), rec.task("b")]
    run(engine_class, definition, [1, 2, 3])
    assert rec.calls == [(1, "a"), (3, "a"), (3, "b")]


def test_obj_jump_bwd_goes_back_to_the_previous_object(engine_class, rec):
    # Section 12 fix 4: OBJ_JUMP_BWD called a method that does not exist.
    def first_visit_of_2(obj, eng):
        if obj == 2 and not eng.extra_data.get("went_back"):
            eng.extra_data["went_back"] = True
            return True
        return False

    definition = [
        rec.task("a"),
        IF(first_visit_of_2, [OBJ_JUMP_BWD(-1)]),
        rec.task("b"),
    ]
    run(engine_class, definition, [1, 2])
    assert rec.calls == [
        (1, "a"),
        (1, "b"),
        (2, "a"),
        (1, "a"),
        (1, "b"),
        (2, "a"),
        (2, "b"),
    ]


# --------------------------------------------------------------------------
# Conditions


def test_if_runs_its_branch_only_when_true(engine_class, rec):
    definition = [IF(is_obj(1), [rec.task("a"), rec.task("b")]), rec.task("c")]
    run(engine_class, definition, [1, 2])
    assert rec.calls == [(1, "a"), (1, "b"), (1, "c"), (2, "c")]


def test_if_not_runs_its_branch_only_when_false(engine_class, rec):
    definition = [IF_NOT(is_obj(1), [rec.task("a"), rec.task("b")]), rec.task("c")]
    run(engine_class, definition, [1, 2])
    assert rec.calls == [(1, "c"), (2, "a"), (2, "b"), (2, "c")]


def test_if_else_runs_one_branch(engine_class, rec):
    definition = [
        IF_ELSE(is_obj(1), [rec.task("yes1"), rec.task("yes2")], rec.task("no")),
        rec.task("after"),
    ]
    run(engine_class, definition, [1, 2])
    assert rec.calls == [
        (1, "yes1"),
        (1, "yes2"),
        (1, "after"),
        (2, "no"),
        (2, "after"),
    ]


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        (lambda c, b: IF(c, b), [(1, "t1"), (1, "t2"), (1, "after"), (2, "after")]),
        (
            lambda c, b: IF_NOT(c, b),
            [(1, "after"), (2, "t1"), (2, "t2"), (2, "after")],
        ),
    ],
    ids=["IF", "IF_NOT"],
)
def test_if_tuple_branch_runs_whole(engine_class, rec, factory, expected):
    branch = (rec.task("t1"), rec.task("t2"))
    run(engine_class, [factory(is_obj(1), branch), rec.task("after")], [1, 2])
    assert rec.calls == expected


def test_if_else_tuple_branches_keep_offsets(engine_class, rec):
    # Tuples are turned into lists: flattened, the else-jump would land on
    # the BREAK and run nothing.
    definition = [
        IF_ELSE(
            is_obj(1),
            (rec.task("yes1"), rec.task("yes2")),
            (rec.task("no1"), rec.task("no2")),
        ),
        rec.task("after"),
    ]
    run(engine_class, definition, [1, 2])
    assert rec.calls == [
        (1, "yes1"),
        (1, "yes2"),
        (1, "after"),
        (2, "no1"),
        (2, "no2"),
        (2, "after"),
    ]


def test_if_else_keeps_branches_as_given():
    branch1 = [print]
    result = IF_ELSE(bool, branch1, len)
    assert result[1] is branch1
    assert result[3] is len
    assert len(result) == 4
    assert result[2].__name__ == "BREAK"


def test_if_else_turns_tuple_branches_into_lists():
    result = IF_ELSE(bool, (print, len), (repr,))
    assert result[1] == [print, len]
    assert result[3] == [repr]


@pytest.mark.parametrize("factory", [IF, IF_NOT], ids=["IF", "IF_NOT"])
def test_if_shape(factory):
    branch = [print]
    test, kept = factory(bool, branch)
    assert kept is branch
    assert test.workflow_pattern.name == factory.__name__


# --------------------------------------------------------------------------
# WHILE


def test_while_repeats_its_branch(engine_class, rec):
    definition = [
        WHILE(below(3), [rec.task("inc", increment), rec.task("b")]),
        rec.task("after"),
    ]
    run(engine_class, definition, [{"id": "x", "n": 0}])
    assert rec.names() == ["inc", "b", "inc", "b", "inc", "b", "after"]


def test_while_with_a_single_task(engine_class, rec):
    run(engine_class, [WHILE(below(2), rec.task("inc", increment))], [{"n": 0}])
    assert rec.names() == ["inc", "inc"]


def test_while_false_at_once_runs_nothing(engine_class, rec):
    definition = [WHILE(below(0), rec.task("inc", increment)), rec.task("after")]
    run(engine_class, definition, [{"n": 0}])
    assert rec.names() == ["after"]


@pytest.mark.parametrize(
    ("branch", "expected_body"),
    [
        (print, (print,)),
        ([print, len], (print, len)),
        ([print, (len, (repr, None))], (print, len, repr)),
        ([print, [len]], (print, [len])),
    ],
    ids=["task", "list", "nested-tuples", "nested-list"],
)
def test_while_layout(branch, expected_body):
    test, body, jump = WHILE(bool, branch)
    assert body == expected_body
    assert isinstance(body, tuple)
    assert jump.workflow_pattern.step(None, None) == -(len(expected_body) + 1)
    assert jump.__name__ == "TASK_JUMP_BWD"
    assert test.__name__ == "WHILE"


# --------------------------------------------------------------------------
# CMP


@pytest.mark.parametrize(
    ("a", "b", "op", "expected"),
    [
        (1, 1, "eq", True),
        (1, 2, "==", False),
        (2, 1, "gt", True),
        (1, 1, ">", False),
        (1, 1, "gte", True),
        (0, 1, ">=", False),
        (1, 2, "lt", True),
        (2, 2, "<", False),
        (2, 2, "lte", True),
        (3, 2, "<=", False),
        ([1, 2], 2, "in", True),
        ([1, 2], 3, "in", False),
        ([0, 1], [0, 1, 0, 1], "<", True),
    ],
)
def test_cmp_operators(a, b, op, expected):
    assert CMP(a, b, op)(None, None) is expected


def test_cmp_calls_callables_until_a_value():
    calls = []

    def left(obj, eng):
        calls.append((obj, eng))
        return lambda o, e: o * 2

    assert CMP(left, lambda o, e: 10, "eq")(5, "eng") is True
    assert calls == [(5, "eng")]


def test_cmp_task_attributes():
    task = CMP(1, 2, "<")
    assert task.__name__ == "CMP"
    assert task.hide is True
    assert task.__qualname__.startswith("CMP.<locals>.")


# --------------------------------------------------------------------------
# FOR


def collect(key):
    def _collect(obj, eng):
        obj["seen"].append(eng.extra_data[key])

    _collect.__name__ = f"collect_{key}"
    return _collect


def test_for_over_an_iterable(engine_class):
    obj = {"seen": []}
    eng = run(engine_class, [FOR([10, 20, 30], "v", [collect("v")])], [obj])
    assert obj["seen"] == [10, 20, 30]
    assert eng.extra_data["v"] == 30
    assert eng.extra_data["_Iterators"] == {}


def test_for_over_a_callable_source(engine_class):
    # Section 12 fix 2: a callable source recursed forever.
    sources = []

    def values(obj, eng):
        sources.append(obj["id"])
        return ["a", "b"]

    obj = {"id": 1, "seen": []}
    run(engine_class, [FOR(values, "v", collect("v"))], [obj])
    assert obj["seen"] == ["a", "b"]
    # Evaluated once per round: two values and the round that ends the loop.
    assert sources == [1, 1, 1]


def test_for_cache_data_evaluates_the_source_once(engine_class):
    sources = []

    def values(obj, eng):
        sources.append(1)
        return iter(["a", "b", "c"])

    obj = {"seen": []}
    run(engine_class, [FOR(values, "v", collect("v"), cache_data=True)], [obj])
    assert obj["seen"] == ["a", "b", "c"]
    assert sources == [1]


def test_for_sees_a_growing_list_without_cache(engine_class):
    values = [1, 2]

    def grow(obj, eng):
        obj["seen"].append(eng.extra_data["v"])
        if eng.extra_data["v"] == 1:
            values.append(3)

    obj = {"seen": []}
    run(engine_class, [FOR(lambda o, e: values, "v", grow)], [obj])
    assert obj["seen"] == [1, 2, 3]


def test_for_descending(engine_class):
    obj = {"seen": []}
    eng = run(engine_class, [FOR(range(3), "v", collect("v"), order="DSC")], [obj])
    assert obj["seen"] == [2, 1, 0]
    assert eng.extra_data["v"] == 0


def test_for_callable_setter_gets_step_and_value(engine_class):
    # Section 12 fix 2: the end-of-loop setter call raised KeyError.
    calls = []

    def setter(obj, eng, step, value):
        calls.append((step, value))

    run(engine_class, [FOR(["x", "y"], setter, [nothing])], [[]])
    assert calls == [("[0, 0]", "x"), ("[0, 0]", "y"), ("[0, 0]", "y")]


def test_for_setter_is_called_once_more_with_the_last_value(engine_class, rec):
    values_set = []

    def setter(obj, eng, step, value):
        values_set.append(value)

    definition = [FOR([1, 2], setter, rec.task("body")), rec.task("after")]
    run(engine_class, definition, ["o"])
    assert values_set == [1, 2, 2]
    assert rec.names() == ["body", "body", "after"]


def test_for_over_an_empty_list(engine_class, rec):
    values_set = []
    definition = [
        FOR([], lambda o, e, s, v: values_set.append(v), rec.task("body")),
        rec.task("after"),
    ]
    eng = run(engine_class, definition, ["o"])
    assert rec.names() == ["after"]
    assert values_set == []
    assert eng.extra_data["_Iterators"] == {}


def test_for_runs_again_for_each_object(engine_class):
    objects = [{"seen": []}, {"seen": []}]
    run(engine_class, [FOR([1, 2], "v", collect("v"))], objects)
    assert [obj["seen"] for obj in objects] == [[1, 2], [1, 2]]


def test_nested_for_loops(engine_class):
    def pair(obj, eng):
        obj["seen"].append((eng.extra_data["i"], eng.extra_data["j"]))

    definition = [FOR([1, 2], "i", [FOR("ab", "j", [pair])])]
    obj = {"seen": []}
    run(engine_class, definition, [obj])
    assert obj["seen"] == [(1, "a"), (1, "b"), (2, "a"), (2, "b")]


def test_sequential_for_loops(engine_class):
    definition = [FOR([1, 2], "v", collect("v")), FOR([3], "v", collect("v"))]
    obj = {"seen": []}
    run(engine_class, definition, [obj])
    assert obj["seen"] == [1, 2, 3]


def test_for_inside_while(engine_class):
    definition = [WHILE(below(2), [increment, FOR("xy", "v", collect("v"))])]
    obj = {"n": 0, "seen": []}
    run(engine_class, definition, [obj])
    assert obj["seen"] == ["x", "y", "x", "y"]


def test_for_halted_mid_loop_resumes_with_the_next_value(engine_class, rec):
    def halt_at_20(obj, eng):
        if eng.extra_data["v"] == 20:
            eng.halt("look at 20")

    eng = engine_class()
    eng.callbacks.replace(
        [
            rec.task("start"),
            FOR([10, 20, 30], "v", [collect("v"), halt_at_20]),
            rec.task("after"),
        ]
    )
    obj = {"seen": []}
    with pytest.raises(HaltProcessing):
        eng.process([obj])
    assert obj["seen"] == [10, 20]
    assert eng.state.callback_pos == [1, 2]
    eng.restart("current", "next")
    assert obj["seen"] == [10, 20, 30]
    assert rec.names() == ["start", "after"]
    assert eng.extra_data["_Iterators"] == {}


def test_for_layout():
    for_task, body, jump = FOR(range(2), "v", [print, (len,)])
    assert for_task.workflow_pattern.name == "FOR"
    assert for_task.__name__ == "FOR"
    assert body == (print, len)
    assert jump.workflow_pattern.shape == (-3,)


def test_for_reads_a_one_shot_iterable_once(engine_class):
    objects = [{"seen": []}, {"seen": []}]
    run(engine_class, [FOR(iter([1, 2]), "v", collect("v"))], objects)
    assert [obj["seen"] for obj in objects] == [[1, 2], [1, 2]]


def test_for_source_returning_a_non_iterable_fails_clearly(engine_class):
    eng = engine_class()
    eng.callbacks.replace([FOR(lambda o, e: 5, "v", [len])])
    with pytest.raises(TypeError, match=r"FOR: get_list_function .* returned 5"):
        eng.process([{}])


# --------------------------------------------------------------------------
# CHOICE and SIMPLE_MERGE


def kind(obj, eng):
    return obj["kind"]


def test_choice_positional_and_keyword_predicates(engine_class, rec):
    # Section 12 fix 10: branches of several tasks (a list, or a tuple of
    # keyword predicates) used to be flattened and shift later branches.
    definition = [
        CHOICE(
            kind,
            ("book", rec.task("book1"), [rec.task("book2"), rec.task("book3")]),
            (3, rec.task("three")),
            article=rec.task("article"),
            note=(rec.task("note1"), rec.task("note2")),
        ),
        rec.task("after"),
    ]
    objects = [
        {"id": "b", "kind": "book"},
        {"id": "3", "kind": 3},
        {"id": "a", "kind": "article"},
        {"id": "n", "kind": "note"},
    ]
    run(engine_class, definition, objects)
    assert rec.calls == [
        ("b", "book1"),
        ("b", "book2"),
        ("b", "book3"),
        ("b", "after"),
        ("3", "three"),
        ("3", "after"),
        ("a", "article"),
        ("a", "after"),
        ("n", "note1"),
        ("n", "note2"),
        ("n", "after"),
    ]


def test_choice_unknown_value_raises_key_error_naming_it(engine_class):
    eng = engine_class()
    eng.callbacks.replace([CHOICE(kind, ("book", len))])
    with pytest.raises(KeyError, match="returned 'poem'"):
        eng.process([{"kind": "poem"}])


def test_choice_layout():
    one, two = [print], [len, repr]
    result = CHOICE(kind, ("a", *two), b=one)
    assert [type(item).__name__ for item in result] == [
        "function",
        "list",
        "function",
        "list",
        "function",
    ]
    assert result[1] == two
    assert result[3] is one
    assert result[0].__name__ == "kind"
    assert result[0].__qualname__.startswith("CHOICE.<locals>.")
    assert result[0].workflow_pattern.step({"kind": "b"}, None) == 3


def test_simple_merge_runs_the_first_branch_then_the_last(engine_class, rec):
    definition = [
        SIMPLE_MERGE(
            [rec.task("b1a"), rec.task("b1b")],
            (rec.task("b2a"), rec.task("b2b")),
            rec.task("b3"),
            rec.task("last"),
        ),
        rec.task("after"),
    ]
    run(engine_class, definition, [1])
    assert rec.names() == ["b1a", "b1b", "last", "after"]


def test_simple_merge_jumps_from_any_branch_land_on_the_last():
    result = SIMPLE_MERGE(print, len, (repr, str), abs)
    assert len(result) == 7
    assert result[4] == [repr, str]
    assert result[6] is abs
    jumps = {
        index: result[index].workflow_pattern.step(None, None) for index in (1, 3, 5)
    }
    assert jumps == {1: 5, 3: 3, 5: 1}
    assert all(result[index].__name__ == "SIMPLE_MERGE" for index in jumps)


def test_simple_merge_branch_entered_by_a_jump_goes_to_last(engine_class, rec):
    definition = [
        SIMPLE_MERGE(
            [TASK_JUMP_FWD(3), rec.task("skipped")],
            rec.task("b1"),
            rec.task("b2"),
            rec.task("last"),
        )
    ]
    run(engine_class, definition, [1])
    assert rec.names() == ["last"]


# --------------------------------------------------------------------------
# The engine's two paths


CONTROL_DEFINITIONS = {
    "IF": lambda r: [IF(is_obj(1), r.task("a")), r.task("z")],
    "IF_NOT": lambda r: [IF_NOT(is_obj(1), r.task("a")), r.task("z")],
    "IF_ELSE": lambda r: [IF_ELSE(is_obj(1), r.task("a"), r.task("b"))],
    "WHILE": lambda r: [WHILE(lambda o, e: len(r.calls) < 2, r.task("a"))],
    "FOR": lambda r: [FOR([1, 2], "v", r.task("a"))],
    "TASK_JUMP_FWD": lambda r: [TASK_JUMP_FWD(2), r.task("a"), r.task("b")],
    "TASK_JUMP_IF": lambda r: [TASK_JUMP_IF(is_obj(1), 2), r.task("a"), r.task("b")],
    "BREAK": lambda r: [[r.task("a"), BREAK(), r.task("b")], r.task("c")],
    "CHOICE": lambda r: [CHOICE(lambda o, e: o, (1, r.task("a")), (2, r.task("b")))],
    "SIMPLE_MERGE": lambda r: [SIMPLE_MERGE(r.task("a"), r.task("b"), r.task("c"))],
}


@pytest.mark.parametrize("name", sorted(CONTROL_DEFINITIONS))
def test_lean_and_hooked_paths_run_the_same_tasks(name):
    traces = []
    for engine_class in (CountingEngine, CountingHookedEngine):
        recorder = Recorder()
        eng = run(engine_class, CONTROL_DEFINITIONS[name](recorder), [1, 2])
        traces.append((recorder.calls, eng.raised))
    (lean_calls, lean_raised), (hooked_calls, hooked_raised) = traces
    assert lean_calls == hooked_calls
    assert lean_calls
    # The lean loop takes the decision from the task; the hooked one has
    # the task raise through the engine's methods.
    assert lean_raised == []
    assert hooked_raised


def test_hooked_engine_is_handed_the_control_tasks():
    recorder = Recorder()
    eng = run(HookedEngine, [IF_ELSE(is_obj(1), recorder.task("a"), len)], [1])
    assert eng.executed == ["IF_ELSE", "a", "BREAK"]


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: IF(bool, len)[0], "IF"),
        (lambda: IF_NOT(bool, len)[0], "IF_NOT"),
        (lambda: IF_ELSE(bool, len, len)[0], "IF_ELSE"),
        (lambda: WHILE(bool, len)[0], "WHILE"),
        (lambda: FOR([], "v", len)[0], "FOR"),
        (lambda: TASK_JUMP_BWD(), "TASK_JUMP_BWD"),
        (lambda: TASK_JUMP_FWD(), "TASK_JUMP_FWD"),
        (lambda: TASK_JUMP_IF(bool, 2), "TASK_JUMP_IF"),
        (lambda: BREAK(), "BREAK"),
        (lambda: SIMPLE_MERGE(len, len)[1], "SIMPLE_MERGE"),
    ],
)
def test_control_tasks_are_described_closures(make, name):
    task = make()
    assert type(task.workflow_pattern) is Pattern
    assert task.workflow_pattern.control
    assert task.__name__ == name
    assert task.__qualname__.startswith(f"{name}.<locals>.")
    assert task.__module__ == "workflow.patterns.controlflow"


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (STOP, "STOP"),
        (HALT, "HALT"),
        (OBJ_NEXT, "OBJ_NEXT"),
        (OBJ_JUMP_FWD, "OBJ_JUMP_FWD"),
        (OBJ_JUMP_BWD, "OBJ_JUMP_BWD"),
        (lambda: CMP(1, 1, "eq"), "CMP"),
        (lambda: PARALLEL_SPLIT(len), "PARALLEL_SPLIT"),
        (lambda: SYNCHRONIZE(len, len), "SYNCHRONIZE"),
    ],
)
def test_plain_pattern_tasks_are_named_closures(make, name):
    task = make()
    assert task.__name__ == name
    assert task.__qualname__.startswith(f"{name}.<locals>.")


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (BREAK(), BREAK_LEVEL),
        (TASK_JUMP_BWD(-4), -4),
        (TASK_JUMP_FWD(3), 3),
        (TASK_JUMP_IF(lambda o, e: o, 5), 5),
    ],
)
def test_control_task_decisions(task, expected):
    assert task.workflow_pattern.step(True, None) == expected


def test_task_jump_if_false_goes_on():
    assert TASK_JUMP_IF(lambda o, e: o, 5).workflow_pattern.step(False, None) is None


# --------------------------------------------------------------------------
# Misuse at definition time


def raises_type(*fragments):
    return (TypeError, fragments)


def raises_value(*fragments):
    return (ValueError, fragments)


MISUSE = [
    (lambda: IF(None, [len]), raises_type("IF", "cond")),
    (lambda: IF(bool, None), raises_type("IF", "branch", "None")),
    (lambda: IF(bool, 3), raises_type("IF", "branch")),
    (lambda: IF_NOT(bool, None), raises_type("IF_NOT", "branch", "None")),
    (lambda: IF_ELSE(bool, None, [len]), raises_type("IF_ELSE", "branch1", "None")),
    (lambda: IF_ELSE(bool, [len], None), raises_type("IF_ELSE", "branch2", "None")),
    (lambda: IF_ELSE("yes", [len], [len]), raises_type("IF_ELSE", "cond")),
    (lambda: WHILE(bool, None), raises_type("WHILE", "branch", "None")),
    (lambda: WHILE(3, [len]), raises_type("WHILE", "cond")),
    (lambda: FOR(5, "v", [len]), raises_type("FOR", "get_list_function")),
    (lambda: FOR(None, "v", [len]), raises_type("FOR", "get_list_function")),
    (lambda: FOR([1], 7, [len]), raises_type("FOR", "setter")),
    (lambda: FOR([1], "v", None), raises_type("FOR", "branch")),
    (lambda: FOR([1], "v", [len], order="UP"), raises_value("FOR", "order", "UP")),
    (lambda: CMP(1, 2, "~"), raises_value("CMP", "op", "'~'")),
    (lambda: CMP(1, 2, ["eq"]), raises_type("CMP", "op", "['eq']")),
    (lambda: TASK_JUMP_BWD("2"), raises_type("TASK_JUMP_BWD", "step")),
    (lambda: TASK_JUMP_FWD(1.5), raises_type("TASK_JUMP_FWD", "step")),
    (lambda: TASK_JUMP_IF(None, 2), raises_type("TASK_JUMP_IF", "cond")),
    (lambda: OBJ_JUMP_FWD(-1), raises_value("OBJ_JUMP_FWD", "step", "-1")),
    (lambda: OBJ_JUMP_BWD(1), raises_value("OBJ_JUMP_BWD", "step", "1")),
    (lambda: OBJ_JUMP_BWD(None), raises_type("OBJ_JUMP_BWD", "step")),
    (lambda: SYNCHRONIZE(len), raises_value("SYNCHRONIZE", "two arguments")),
    (lambda: SYNCHRONIZE(), raises_value("SYNCHRONIZE", "got 0")),
    (lambda: SYNCHRONIZE(len, None), raises_type("SYNCHRONIZE", "branch 2")),
    (lambda: SYNCHRONIZE(len, len, timeout=0), raises_value("SYNCHRONIZE", "timeout")),
    (lambda: SYNCHRONIZE(len, len, timeout="1"), raises_type("SYNCHRONIZE", "timeout")),
    # Thread.join cannot wait longer than threading.TIMEOUT_MAX.
    (
        lambda: SYNCHRONIZE(len, len, timeout=math.inf),
        raises_value("SYNCHRONIZE", "timeout", "TIMEOUT_MAX", "inf"),
    ),
    (
        lambda: SYNCHRONIZE(len, len, timeout=math.nan),
        raises_value("SYNCHRONIZE", "timeout", "nan"),
    ),
    (lambda: SIMPLE_MERGE(len), raises_value("SIMPLE_MERGE", "two arguments")),
    (lambda: SIMPLE_MERGE(len, None), raises_type("SIMPLE_MERGE", "argument 2")),
    (lambda: PARALLEL_SPLIT(), raises_value("PARALLEL_SPLIT", "branch")),
    (lambda: PARALLEL_SPLIT("x"), raises_type("PARALLEL_SPLIT", "branch 1")),
    (lambda: CHOICE(None, (1, len)), raises_type("CHOICE", "arbiter")),
    (lambda: CHOICE(bool, (1,)), raises_type("CHOICE", "predicate 1")),
    (lambda: CHOICE(bool, "ab"), raises_type("CHOICE", "predicate 1")),
    (lambda: CHOICE(bool, (1, 5)), raises_type("CHOICE", "predicate 1")),
    (lambda: CHOICE(bool, x=None), raises_type("CHOICE", "keyword predicate x")),
    (
        lambda: CHOICE(bool, ([1], len)),
        raises_type("CHOICE", "predicate 1", "hashable"),
    ),
    # A repeated value would silently drop one of its branches.
    (
        lambda: CHOICE(bool, ("a", len), a=print),
        raises_value("CHOICE", "keyword predicate a", "'a'"),
    ),
    (
        lambda: CHOICE(bool, (1, len), (1, print)),
        raises_value("CHOICE", "predicate 2", "1"),
    ),
]


@pytest.mark.parametrize(("make", "expected"), MISUSE)
def test_misuse_is_refused_at_definition_time(make, expected):
    exception, fragments = expected
    with pytest.raises(exception) as info:
        make()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message


def test_max_timeout():
    assert MAX_TIMEOUT == 30000
    assert controlflow.MAX_TIMEOUT is MAX_TIMEOUT


def test_definition_errors_are_still_exceptions():
    # Old code caught `Exception` around definitions; that keeps working.
    with pytest.raises(Exception, match="OBJ_JUMP_FWD"):
        OBJ_JUMP_FWD(-2)


def test_control_task_used_outside_an_engine_loop_raises_through_the_engine():
    eng = GenericWorkflowEngine()
    with pytest.raises(BreakFromThisLoop):
        BREAK()(None, eng)
    with pytest.raises(JumpCall) as info:
        IF_ELSE(lambda o, e: False, len, len)[0](None, eng)
    assert info.value.args == (3,)
