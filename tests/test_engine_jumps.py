"""Jumps between tasks (``jump_call``) and between objects (``jump_token``).

SPEC 6.4 (``JumpCall``) and 6.6 (``JumpToken``): every table runs under the
lean task loop and under the hooked one, with identical results.
"""

from __future__ import annotations

import pytest

from tests.helpers import ENGINE_CLASSES, ENGINE_IDS, on, once, task, trace_of
from workflow.errors import (
    JumpCallBack,
    JumpCallForward,
    JumpTokenBack,
    JumpTokenForward,
    WorkflowError,
)

engine_classes = pytest.mark.parametrize("engine_class", ENGINE_CLASSES, ids=ENGINE_IDS)


def _jump_call_once(offset):
    return task("J", once("jumped", lambda obj, eng: eng.jump_call(offset)))


FLAT = ["a", "b", "J", "d", "e"]

JUMP_CALL_FLAT = [
    # (offset, the tasks run on each object; J jumps only the first time)
    pytest.param(1, ["a", "b", "J", "d", "e"], id="+1 next"),
    pytest.param(2, ["a", "b", "J", "e"], id="+2 skips one"),
    pytest.param(3, ["a", "b", "J"], id="+3 lands on the end"),
    pytest.param(10, ["a", "b", "J"], id="+10 past the end"),
    pytest.param(-1, ["a", "b", "J", "b", "J", "d", "e"], id="-1 previous"),
    pytest.param(-2, ["a", "b", "J", "a", "b", "J", "d", "e"], id="-2 first"),
    pytest.param(-10, ["a", "b", "J", "a", "b", "J", "d", "e"], id="-10 past start"),
    pytest.param(0, ["a", "b", "J", "J", "d", "e"], id="0 same task again"),
]


@engine_classes
@pytest.mark.parametrize(("offset", "first_object_tasks"), JUMP_CALL_FLAT)
def test_jump_call_in_a_flat_definition(engine_class, offset, first_object_tasks):
    eng = engine_class()
    eng.callbacks.replace(
        [task("a"), task("b"), _jump_call_once(offset), task("d"), task("e")]
    )
    eng.process(["A", "B"])
    second_object_tasks = ["a", "b", "J", "d", "e"]
    assert trace_of(eng) == [("A", name) for name in first_object_tasks] + [
        ("B", name) for name in second_object_tasks
    ]


JUMP_CALL_NESTED = [
    pytest.param(1, ["a", "b", "J", "c", "d"], id="+1 next in block"),
    pytest.param(2, ["a", "b", "J", "d"], id="+2 out of the block"),
    pytest.param(5, ["a", "b", "J", "d"], id="+5 far out of the block"),
    pytest.param(-1, ["a", "b", "J", "b", "J", "c", "d"], id="-1 in block"),
    pytest.param(-5, ["a", "b", "J", "b", "J", "c", "d"], id="-5 block start"),
    pytest.param(0, ["a", "b", "J", "J", "c", "d"], id="0 in block"),
]


@engine_classes
@pytest.mark.parametrize(("offset", "first_object_tasks"), JUMP_CALL_NESTED)
def test_jump_call_stays_in_its_nested_block(engine_class, offset, first_object_tasks):
    eng = engine_class()
    eng.callbacks.replace(
        [task("a"), [task("b"), _jump_call_once(offset), task("c")], task("d")]
    )
    eng.process(["A", "B"])
    assert trace_of(eng) == [("A", name) for name in first_object_tasks] + [
        ("B", name) for name in ["a", "b", "J", "c", "d"]
    ]


def _jump_token_at_d(offset):
    return task("J", on("D", once("jumped", lambda obj, eng: eng.jump_token(offset))))


JUMP_TOKEN = [
    # J jumps once, on D (the 4th of 5 objects); the list is the objects
    # processed and whether each ran to the end ("full") or stopped at J.
    pytest.param(1, [("A", 1), ("B", 1), ("C", 1), ("D", 0), ("E", 1)], id="+1"),
    pytest.param(2, [("A", 1), ("B", 1), ("C", 1), ("D", 0)], id="+2 skips E"),
    pytest.param(10, [("A", 1), ("B", 1), ("C", 1), ("D", 0)], id="+10 past end"),
    pytest.param(
        0,
        [("A", 1), ("B", 1), ("C", 1), ("D", 0), ("D", 1), ("E", 1)],
        id="0 same object again",
    ),
    pytest.param(
        -1,
        [("A", 1), ("B", 1), ("C", 1), ("D", 0), ("C", 1), ("D", 1), ("E", 1)],
        id="-1 previous object",
    ),
    pytest.param(
        -2,
        [("A", 1), ("B", 1), ("C", 1), ("D", 0), ("B", 1), ("C", 1), ("D", 1)]
        + [("E", 1)],
        id="-2",
    ),
    pytest.param(
        -10,
        [("A", 1), ("B", 1), ("C", 1), ("D", 0), ("A", 1), ("B", 1), ("C", 1)]
        + [("D", 1), ("E", 1)],
        id="-10 past the start",
    ),
]


def _expected_token_trace(objects_run):
    trace = []
    for obj, full in objects_run:
        trace += [(obj, "t1"), (obj, "J")]
        if full:
            trace.append((obj, "t2"))
    return trace


@engine_classes
@pytest.mark.parametrize(("offset", "objects_run"), JUMP_TOKEN)
def test_jump_token(engine_class, offset, objects_run):
    eng = engine_class()
    eng.callbacks.replace([task("t1"), _jump_token_at_d(offset), task("t2")])
    eng.process(["A", "B", "C", "D", "E"])
    assert trace_of(eng) == _expected_token_trace(objects_run)


@engine_classes
def test_jump_token_resets_the_task_position_for_the_object_jumped_to(engine_class):
    eng = engine_class()
    eng.callbacks.replace([task("t1"), [task("t2"), _jump_token_at_d(-1)], task("t3")])
    eng.process(["C", "D"])
    assert trace_of(eng) == [
        ("C", "t1"),
        ("C", "t2"),
        ("C", "J"),
        ("C", "t3"),
        ("D", "t1"),
        ("D", "t2"),
        ("D", "J"),
        ("C", "t1"),
        ("C", "t2"),
        ("C", "J"),
        ("C", "t3"),
        ("D", "t1"),
        ("D", "t2"),
        ("D", "J"),
        ("D", "t3"),
    ]


@engine_classes
@pytest.mark.parametrize(
    ("offset", "token_pos"), [(2, 4), (10, 5)], ids=["+2 to the end", "+10"]
)
def test_jump_token_past_the_last_object_completes(engine_class, offset, token_pos):
    eng = engine_class()
    eng.callbacks.replace([task("t1"), _jump_token_at_d(offset), task("t2")])
    eng.process(["A", "B", "C", "D", "E"])
    assert eng.state.token_pos == token_pos
    assert eng.has_completed is True


@engine_classes
@pytest.mark.parametrize("method", ["jump_call", "jump_token"])
@pytest.mark.parametrize("offset", ["1", 1.0, None, True], ids=repr)
def test_jump_with_a_non_int_offset_raises_type_error_naming_it(
    engine_class, method, offset
):
    eng = engine_class()
    eng.callbacks.replace([task("J", lambda obj, eng: getattr(eng, method)(offset))])
    with pytest.raises(TypeError) as info:
        eng.process(["A"])
    assert method in str(info.value)
    assert repr(offset) in str(info.value)


# -- deprecated directional jumps ---------------------------------------------


DEPRECATED_WRONG_SIGN = [
    pytest.param("jumpTokenForward", -1, id="jumpTokenForward(-1)"),
    pytest.param("jumpTokenBack", 1, id="jumpTokenBack(1)"),
    pytest.param("jumpCallForward", -1, id="jumpCallForward(-1)"),
    pytest.param("jumpCallBack", 1, id="jumpCallBack(1)"),
]


@engine_classes
@pytest.mark.parametrize(("method", "offset"), DEPRECATED_WRONG_SIGN)
def test_deprecated_directional_jump_with_the_wrong_sign_raises(
    engine_class, method, offset
):
    eng = engine_class()
    eng.callbacks.replace(
        [task("J", lambda obj, eng: getattr(eng, method)(offset)), task("t2")]
    )
    with pytest.warns(DeprecationWarning), pytest.raises(WorkflowError) as info:
        eng.process(["A", "B"])
    assert f"offset {offset}" in info.value.message
    assert trace_of(eng) == [("A", "J")]


@engine_classes
@pytest.mark.parametrize(
    ("exception", "offset"),
    [(JumpTokenForward, -1), (JumpTokenBack, 1)],
    ids=["JumpTokenForward(-1)", "JumpTokenBack(1)"],
)
def test_deprecated_token_jump_raised_by_a_task_with_the_wrong_sign_raises(
    engine_class, exception, offset
):
    def raise_it(obj, eng):
        raise exception(offset)

    eng = engine_class()
    eng.callbacks.replace([task("J", raise_it)])
    with pytest.raises(WorkflowError) as info:
        eng.process(["A", "B"])
    assert exception.__name__ in info.value.message
    assert f"offset {offset}" in info.value.message


DEPRECATED_RIGHT_SIGN = [
    # (method, offset, tasks run on A then B; the jump happens once, on A)
    pytest.param(
        "jumpCallForward",
        2,
        [("A", "t1"), ("A", "J"), ("A", "t3"), ("B", "t1"), ("B", "J")]
        + [("B", "t2"), ("B", "t3")],
        id="jumpCallForward(2)",
    ),
    pytest.param(
        "jumpCallBack",
        -1,
        [("A", "t1"), ("A", "J"), ("A", "t1"), ("A", "J"), ("A", "t2")]
        + [("A", "t3"), ("B", "t1"), ("B", "J"), ("B", "t2"), ("B", "t3")],
        id="jumpCallBack(-1)",
    ),
    pytest.param(
        "jumpTokenForward",
        1,
        [("A", "t1"), ("A", "J"), ("B", "t1"), ("B", "J"), ("B", "t2")] + [("B", "t3")],
        id="jumpTokenForward(1)",
    ),
    pytest.param(
        "jumpTokenBack",
        0,
        [("A", "t1"), ("A", "J"), ("A", "t1"), ("A", "J"), ("A", "t2")]
        + [("A", "t3"), ("B", "t1"), ("B", "J"), ("B", "t2"), ("B", "t3")],
        id="jumpTokenBack(0)",
    ),
]


@engine_classes
@pytest.mark.parametrize(("method", "offset", "expected"), DEPRECATED_RIGHT_SIGN)
def test_deprecated_directional_jump_with_the_right_sign_jumps(
    engine_class, method, offset, expected
):
    eng = engine_class()
    jump = once("jumped", lambda obj, eng: getattr(eng, method)(offset))
    eng.callbacks.replace([task("t1"), task("J", jump), task("t2"), task("t3")])
    with pytest.warns(DeprecationWarning) as record:
        eng.process(["A", "B"])
    assert [(w.category, w.filename) for w in record] == [
        (DeprecationWarning, __file__)
    ]
    assert trace_of(eng) == expected


@engine_classes
@pytest.mark.parametrize("method", ["jumpTokenForward", "jumpCallBack"])
def test_deprecated_directional_jump_with_a_non_int_offset_raises_type_error(
    engine_class, method
):
    eng = engine_class()
    eng.callbacks.replace([task("J", lambda obj, eng: getattr(eng, method)("2"))])
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError) as info:
        eng.process(["A"])
    assert method in str(info.value)
    assert "'2'" in str(info.value)


@engine_classes
@pytest.mark.parametrize(
    ("exception", "offset", "expected"),
    [
        pytest.param(
            JumpCallForward,
            2,
            [("A", "t1"), ("A", "J"), ("A", "t3")],
            id="JumpCallForward(2)",
        ),
        pytest.param(
            JumpCallBack,
            -1,
            [("A", "t1"), ("A", "J"), ("A", "t1"), ("A", "J"), ("A", "t2")]
            + [("A", "t3")],
            id="JumpCallBack(-1)",
        ),
    ],
)
def test_directional_call_jumps_raised_by_a_task_act_as_jump_call(
    engine_class, exception, offset, expected
):
    def raise_it(obj, eng):
        raise exception(offset)

    eng = engine_class()
    eng.callbacks.replace(
        [task("t1"), task("J", once("jumped", raise_it)), task("t2"), task("t3")]
    )
    eng.process(["A"])
    assert trace_of(eng) == expected
