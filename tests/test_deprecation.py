"""Deprecated names: the ``deprecated`` decorator (SPEC 3) and the 2.x engine
names (SPEC 6.9 ``callback_chooser``, 6.10, 12.11)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from tests.helpers import once, task, trace_of
from workflow.deprecation import deprecated
from workflow.engine import GenericWorkflowEngine
from workflow.errors import AbortProcessing, HaltProcessing, SkipToken

# -- the decorator -------------------------------------------------------------------


def _add(a, b=0):
    """Add two numbers."""
    return a + b


def test_deprecated_keeps_the_wrapped_metadata():
    wrapped = deprecated("use something else")(_add)
    assert (wrapped.__name__, wrapped.__qualname__, wrapped.__doc__) == (
        "_add",
        "_add",
        "Add two numbers.",
    )
    assert wrapped.__module__ == __name__
    assert wrapped.__wrapped__ is _add


def test_deprecated_warns_the_message_at_the_caller_then_calls_through():
    wrapped = deprecated("use add() instead")(_add)
    with pytest.warns(DeprecationWarning) as record:
        result = wrapped(2, b=3)
    assert result == 5
    assert [(w.category, str(w.message), w.filename) for w in record] == [
        (DeprecationWarning, "use add() instead", __file__)
    ]


@pytest.mark.parametrize(
    "category", [FutureWarning, PendingDeprecationWarning, UserWarning]
)
def test_deprecated_warns_with_the_given_category(category):
    wrapped = deprecated("going away", category=category)(_add)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        wrapped(1)
    assert [(w.category, str(w.message)) for w in record] == [(category, "going away")]


def test_deprecated_warns_at_each_call():
    wrapped = deprecated("again")(_add)
    with pytest.warns(DeprecationWarning) as record:
        wrapped(1)
        wrapped(2)
    assert len(record) == 2


# -- the engine's deprecated names ---------------------------------------------------


def f(obj, eng):
    """A task."""


def g(obj, eng):
    """A task."""


def _warned(call):
    """Run ``call``; check it warned once at this file; return its result."""
    with pytest.warns(DeprecationWarning) as record:
        result = call()
    assert [(w.category, w.filename) for w in record] == [
        (DeprecationWarning, __file__)
    ]
    return result


def test_set_workflow_replaces_the_default_definition():
    eng = GenericWorkflowEngine()
    eng.callbacks.replace([g])
    _warned(lambda: eng.setWorkflow([f, (g, None)]))
    assert eng.callbacks.get() == [f, g]


@pytest.mark.parametrize(("args", "key"), [((), "*"), (("x",), "x")])
def test_get_callbacks(args, key):
    eng = GenericWorkflowEngine()
    eng.callbacks.replace([f], key)
    assert _warned(lambda: eng.getCallbacks(*args)) == [f]


def test_add_callback_adds_under_the_key():
    eng = GenericWorkflowEngine()
    _warned(lambda: eng.addCallback("x", f, before=g, after=g, relative_weight=1))
    assert eng.callbacks.get(None) == {"x": [f]}


def test_add_many_callbacks_cleans_and_adds_under_the_key():
    eng = GenericWorkflowEngine()
    _warned(lambda: eng.addManyCallbacks("x", [f, (g, None), [f]]))
    assert eng.callbacks.get("x") == [f, g, [f]]


def test_remove_all_callbacks():
    eng = GenericWorkflowEngine()
    eng.callbacks.replace([f], "x")
    eng.callbacks.replace([f])
    _warned(eng.removeAllCallbacks)
    assert eng.callbacks.empty() is True


def test_remove_callbacks_removes_one_key():
    eng = GenericWorkflowEngine()
    eng.callbacks.replace([f], "x")
    eng.callbacks.replace([g])
    _warned(lambda: eng.removeCallbacks("x"))
    assert eng.callbacks.get(None) == {"*": [g]}


def test_replace_callbacks_replaces_under_the_key():
    eng = GenericWorkflowEngine()
    eng.callbacks.replace([f], "x")
    eng.callbacks.replace([f])
    _warned(lambda: eng.replaceCallbacks("x", [g, (f,)]))
    assert eng.callbacks.get(None) == {"*": [f], "x": [g, f]}


def test_set_position_and_get_curr_ids():
    eng = GenericWorkflowEngine()
    _warned(lambda: eng.setPosition(3, [1, 2]))
    assert (eng.state.token_pos, eng.state.callback_pos) == (3, [1, 2])
    assert _warned(eng.getCurrObjId) == 3
    assert _warned(eng.getCurrTaskId) == [1, 2]


def test_duplicate_is_a_new_engine_of_the_same_class_with_nothing_copied():
    class MyEngine(GenericWorkflowEngine):
        pass

    eng = MyEngine()
    eng.callbacks.replace([task("t1")])
    eng.extra_data["k"] = 1
    eng.process(["A"])
    copy = _warned(eng.duplicate)
    assert type(copy) is MyEngine
    assert copy is not eng
    assert copy.callbacks.empty() is True
    assert (copy.objects, copy.extra_data) == ([], {})
    assert (copy.state.token_pos, copy.state.callback_pos) == (-1, [0])


def test_store_is_the_very_same_extra_data_dict():
    eng = GenericWorkflowEngine()
    store = _warned(lambda: eng.store)
    assert store is eng.extra_data
    store["k"] = 1
    assert eng.extra_data == {"k": 1}


def test_setget_stores_the_default_when_missing_and_returns_the_value():
    eng = GenericWorkflowEngine()
    assert eng.extra_data.setget("k", [1]) == [1]
    assert eng.extra_data.setget("k", [2]) == [1]
    assert eng.extra_data.setget("none") is None
    assert eng.extra_data == {"k": [1], "none": None}


def test_set_var_has_var_and_del_var():
    eng = GenericWorkflowEngine()
    _warned(lambda: eng.setVar("k", 1))
    assert eng.extra_data == {"k": 1}
    assert _warned(lambda: eng.hasVar("k")) is True
    _warned(lambda: eng.delVar("k"))
    assert _warned(lambda: eng.hasVar("k")) is False
    _warned(lambda: eng.delVar("missing"))
    assert eng.extra_data == {}


@pytest.mark.parametrize(
    ("stored", "default", "result", "after"),
    [
        ({"k": 1}, None, 1, {"k": 1}),
        ({"k": 1}, 5, 1, {"k": 1}),
        ({}, None, None, {}),
        ({}, 5, 5, {"k": 5}),
        ({}, 0, 0, {"k": 0}),
    ],
    ids=["present", "present with default", "missing", "missing default", "falsy"],
)
def test_get_var_default_semantics(stored, default, result, after):
    eng = GenericWorkflowEngine()
    eng.extra_data.update(stored)
    assert _warned(lambda: eng.getVar("k", default)) == result
    assert eng.extra_data == after


CONTROL = [
    # (deprecated call made by X on A, the trace of [t1, [X, t3], t4] on A, B)
    pytest.param(
        lambda eng: eng.continueNextToken(),
        [("A", "t1"), ("A", "X"), ("B", "t1"), ("B", "X"), ("B", "t3"), ("B", "t4")],
        id="continueNextToken",
    ),
    pytest.param(
        lambda eng: eng.stopProcessing(),
        [("A", "t1"), ("A", "X")],
        id="stopProcessing",
    ),
    pytest.param(
        lambda eng: eng.breakFromThisLoop(),
        [("A", "t1"), ("A", "X"), ("A", "t4")]
        + [("B", "t1"), ("B", "X"), ("B", "t3"), ("B", "t4")],
        id="breakFromThisLoop",
    ),
    pytest.param(
        lambda eng: eng.jumpToken(1),
        [("A", "t1"), ("A", "X"), ("B", "t1"), ("B", "X"), ("B", "t3"), ("B", "t4")],
        id="jumpToken(1)",
    ),
    pytest.param(
        lambda eng: eng.jumpCall(2),
        [("A", "t1"), ("A", "X"), ("A", "t4")]
        + [("B", "t1"), ("B", "X"), ("B", "t3"), ("B", "t4")],
        id="jumpCall(2)",
    ),
    pytest.param(
        lambda eng: eng.abortProcessing(),
        [("A", "t1"), ("A", "X")],
        id="abortProcessing",
    ),
    pytest.param(
        lambda eng: eng.skipToken(),
        [("A", "t1"), ("A", "X"), ("B", "t1"), ("B", "X"), ("B", "t3"), ("B", "t4")],
        id="skipToken",
    ),
]


@pytest.mark.parametrize(("call", "expected"), CONTROL)
def test_deprecated_control_method_warns_then_acts(call, expected):
    eng = GenericWorkflowEngine()
    control = task("X", once("done", lambda obj, eng: call(eng)))
    eng.callbacks.replace([task("t1"), [control, task("t3")], task("t4")])
    _warned(lambda: eng.process(["A", "B"]))
    assert trace_of(eng) == expected


def test_halt_processing_warns_then_halts_with_its_arguments():
    eng = GenericWorkflowEngine()
    eng.callbacks.replace(
        [lambda obj, eng: eng.haltProcessing("wait", action="approve", payload=[1])]
    )
    with pytest.raises(HaltProcessing) as info:
        _warned(lambda: eng.process(["A"]))
    assert (info.value.message, info.value.action, info.value.payload) == (
        "wait",
        "approve",
        [1],
    )


@pytest.mark.parametrize(
    ("name", "exception"),
    [("abortProcessing", AbortProcessing), ("skipToken", SkipToken)],
)
def test_static_deprecated_methods_work_on_the_class(name, exception):
    with pytest.raises(exception):
        _warned(getattr(GenericWorkflowEngine, name))


class _Record:
    def __init__(self, kind):
        self.kind = kind

    def getFeature(self, name):  # noqa: N802
        return {"type": self.kind}[name]

    def __repr__(self):
        return f"<{self.kind}>"


def test_callback_chooser_with_get_feature_warns_and_picks_by_type():
    eng = GenericWorkflowEngine()
    eng.callbacks.replace([f], "book")
    eng.callbacks.replace([g], "*")
    assert _warned(lambda: eng.callback_chooser(_Record("book"))) == [f]


def test_callback_chooser_with_a_falsy_type_gives_no_tasks():
    eng = GenericWorkflowEngine()
    eng.callbacks.replace([f], "*")
    assert _warned(lambda: eng.callback_chooser(_Record(""))) is None


def test_processing_objects_with_get_feature_runs_the_definition_of_their_type():
    eng = GenericWorkflowEngine()
    eng.callbacks.replace([task("book_task")], "book")
    eng.callbacks.replace([task("default_task")], "*")
    book, untyped = _Record("book"), _Record(None)
    with pytest.warns(DeprecationWarning) as record:
        eng.process([book, untyped, "plain"])
    assert trace_of(eng) == [(book, "book_task"), ("plain", "default_task")]
    assert len(record) == 2


def test_type_checkers_flag_the_deprecated_names(tmp_path):
    """PEP 702 markers: mypy reports each 2.x name used, and not the new ones."""
    snippet = tmp_path / "uses_2x_names.py"
    snippet.write_text(
        "from workflow.engine import GenericWorkflowEngine\n"
        "eng = GenericWorkflowEngine()\n"
        "eng.setVar('a', 1)\n"
        "eng.store\n"
        "eng.skipToken()\n"
        "eng.extra_data['a'] = 1\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--enable-error-code"]
        + ["deprecated", "--follow-imports=silent", "--no-incremental", str(snippet)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=False,
    )
    reported = [
        line.split(": error: ", 1)[1]
        for line in done.stdout.splitlines()
        if line.startswith(str(snippet))
    ]
    assert reported == [
        "function workflow._deprecated.DeprecatedNames.setVar is deprecated:"
        " setVar() is deprecated; use extra_data[key] = value  [deprecated]",
        "function workflow._deprecated.DeprecatedNames.store is deprecated:"
        " store is deprecated; use extra_data  [deprecated]",
        "function workflow._deprecated.DeprecatedNames.skipToken is deprecated:"
        " skipToken() is deprecated; use skip_token()  [deprecated]",
    ]
