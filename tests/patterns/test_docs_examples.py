"""The examples of the workflow 2.0 documentation, in Python 3."""

from __future__ import annotations

import itertools

import pytest

from workflow.errors import HaltProcessing
from workflow.patterns.controlflow import CMP, FOR, IF_ELSE

from .support import Recorder, run

# --------------------------------------------------------------------------
# "Loops and interrupts"


def append_from(key):
    """Append data from a given ``key`` of the engine's ``extra_data``."""

    def _append_from(obj, eng):
        obj.append(eng.extra_data[key])
        print("new data:", obj)

    return _append_from


def interrupt_workflow(obj, eng):
    """Halt: not handled by the engine, so it reaches our code."""
    print("Raising HaltProcessing")
    eng.halt("interrupting this workflow.")


def restart_workflow(obj, eng):
    """Restart the engine with the current object, from the first task."""
    print("Restarting the engine")
    eng.restart("current", "first")


LOOPS_WORKFLOW = [
    FOR(range(2), "my_current_value", [append_from("my_current_value")]),
    IF_ELSE(
        CMP((lambda o, e: o), [0, 1, 0, 1], "<"),
        [restart_workflow],
        [append_from("my_current_value"), interrupt_workflow],
    ),
]

LOOPS_OUTPUT = """\
new data: [0]
new data: [0, 1]
Restarting the engine
new data: [0, 1, 0]
new data: [0, 1, 0, 1]
new data: [0, 1, 0, 1, 1]
Raising HaltProcessing
new data: [0, 1, 0]
new data: [0, 1, 0, 1]
new data: [0, 1, 0, 1, 1]
Raising HaltProcessing
new data: [0, 1, 0, 1, 0]
new data: [0, 1, 0, 1, 0, 1]
new data: [0, 1, 0, 1, 0, 1, 1]
Raising HaltProcessing
Done! [[0, 1, 0, 1, 1], [0, 1, 0, 1, 1], [0, 1, 0, 1, 0, 1, 1]]
"""


def test_loops_and_interrupts_prints_what_the_docs_show(engine_class, capsys):
    my_engine = engine_class()
    my_engine.callbacks.replace(LOOPS_WORKFLOW)
    try:
        my_engine.process([[], [0, 1], [0, 1, 0, 1]])
    except HaltProcessing:
        while True:
            try:
                my_engine.restart("next", "first")
            except HaltProcessing:
                continue
            else:
                print("Done!", my_engine.objects)
                break
    assert capsys.readouterr().out == LOOPS_OUTPUT


# --------------------------------------------------------------------------
# IF_ELSE nested three levels deep


FLAGS = list(itertools.product([True, False], repeat=3))


def flag(name):
    return lambda obj, eng: obj[name]


def nested_if_else(rec):
    return [
        IF_ELSE(
            flag("a"),
            [
                rec.task("a"),
                IF_ELSE(
                    flag("b"),
                    [
                        rec.task("a.b"),
                        IF_ELSE(flag("c"), [rec.task("a.b.c")], rec.task("a.b.!c")),
                        rec.task("a.b end"),
                    ],
                    (rec.task("a.!b"), rec.task("a.!b 2")),
                ),
            ],
            rec.task("!a"),
        ),
        rec.task("end"),
    ]


def expected_nested(a, b, c):
    if not a:
        return ["!a", "end"]
    if not b:
        return ["a", "a.!b", "a.!b 2", "end"]
    return ["a", "a.b", "a.b.c" if c else "a.b.!c", "a.b end", "end"]


@pytest.mark.parametrize(("a", "b", "c"), FLAGS)
def test_nested_if_else_three_levels(engine_class, a, b, c):
    rec = Recorder()
    run(engine_class, nested_if_else(rec), [{"id": "o", "a": a, "b": b, "c": c}])
    assert rec.names() == expected_nested(a, b, c)


def test_nested_if_else_over_many_objects(engine_class):
    rec = Recorder()
    objects = [
        {"id": index, "a": a, "b": b, "c": c} for index, (a, b, c) in enumerate(FLAGS)
    ]
    run(engine_class, nested_if_else(rec), objects)
    expected = [
        (index, name)
        for index, (a, b, c) in enumerate(FLAGS)
        for name in expected_nested(a, b, c)
    ]
    assert rec.calls == expected


# --------------------------------------------------------------------------
# The custom ``if_else`` task of the "Patterns" section


def if_else(call):
    """The docs' task: go on when ``call`` is true, else skip the next item."""

    def inner_call(obj, eng):
        if call(obj, eng):
            eng.jump_call(1)
        else:
            eng.jump_call(2)

    return inner_call


def docs_definition(rec):
    def stop_processing(obj, eng):
        rec.task("stop_processing")(obj, eng)
        eng.stop()

    def named(name):
        return rec.task(name)

    return [
        if_else(flag("staged")),
        [
            [
                if_else(flag("fulltext")),
                [named("extract_metadata"), named("populate_empty_fields")],
                [],
            ],
            [
                if_else(flag("duplicate")),
                [stop_processing],
                [named("synchronize_fields"), named("replace_values")],
            ],
            named("check_mandatory_fields"),
        ],
        [
            named("check_mandatory_fields"),
            named("check_preferred_values"),
            named("save_record"),
        ],
    ]


def test_docs_custom_if_else_task(engine_class):
    # The docs' if_else only skips the next item when false: on true it goes
    # on into both items that follow (IF_ELSE is the pattern that picks one).
    objects = [
        {"id": "not staged", "staged": False},
        {"id": "clean", "staged": True, "fulltext": True, "duplicate": False},
        {"id": "no text", "staged": True, "fulltext": False, "duplicate": False},
        {"id": "duplicate", "staged": True, "fulltext": False, "duplicate": True},
        {"id": "never reached", "staged": False},
    ]
    rec = Recorder()
    run(engine_class, docs_definition(rec), objects)
    final = ["check_mandatory_fields", "check_preferred_values", "save_record"]
    expected = (
        [("not staged", name) for name in final]
        + [
            ("clean", name)
            for name in [
                "extract_metadata",
                "populate_empty_fields",
                "synchronize_fields",
                "replace_values",
                "check_mandatory_fields",
                *final,
            ]
        ]
        + [
            ("no text", name)
            for name in [
                "synchronize_fields",
                "replace_values",
                "check_mandatory_fields",
                *final,
            ]
        ]
        + [("duplicate", "stop_processing")]
    )
    assert rec.calls == expected
