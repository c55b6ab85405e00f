"""Tests of ``workflow.patterns.utils`` and of the patterns' docstrings."""

from __future__ import annotations

import importlib
import logging
import re
import sys
import textwrap

import pytest

import workflow.patterns
from workflow.engine import GenericWorkflowEngine
from workflow.errors import HaltProcessing, WorkflowError
from workflow.patterns import controlflow, utils
from workflow.patterns.controlflow import (
    BREAK,
    CHOICE,
    CMP,
    FOR,
    HALT,
    IF,
    IF_ELSE,
    SIMPLE_MERGE,
    SYNCHRONIZE,
    TASK_JUMP_IF,
    WHILE,
)
from workflow.patterns.utils import (
    CALLFUNC,
    DEBUG_CYCLE,
    EMPTY_CALL,
    ENG_GET,
    ENG_SET,
    ERROR,
    OBJ_GET,
    OBJ_SET,
    PROFILE,
    RUN_WF,
    TRY,
    with_nice_docs,
)

from .support import Recorder, run

# --------------------------------------------------------------------------
# Public names


def test_package_reexports():
    assert set(workflow.patterns.__all__) == {
        "STOP",
        "BREAK",
        "OBJ_JUMP_BWD",
        "OBJ_JUMP_FWD",
        "OBJ_NEXT",
        "TASK_JUMP_BWD",
        "TASK_JUMP_FWD",
        "TASK_JUMP_IF",
        "IF",
        "IF_NOT",
        "IF_ELSE",
        "WHILE",
        "PARALLEL_SPLIT",
        "SYNCHRONIZE",
        "SIMPLE_MERGE",
        "CHOICE",
        "EMPTY_CALL",
        "ENG_GET",
        "ENG_SET",
        "OBJ_SET",
        "OBJ_GET",
        "ERROR",
        "TRY",
        "RUN_WF",
        "CALLFUNC",
        "DEBUG_CYCLE",
        "PROFILE",
    }
    for name in workflow.patterns.__all__:
        module = controlflow if hasattr(controlflow, name) else utils
        assert getattr(workflow.patterns, name) is getattr(module, name)


def test_module_names():
    assert {"HALT", "CMP", "FOR", "MAX_TIMEOUT"} <= set(controlflow.__all__)
    assert "with_nice_docs" in utils.__all__


@pytest.mark.parametrize(
    "name", sorted(set(controlflow.__all__ + utils.__all__) - {"MAX_TIMEOUT"})
)
def test_every_public_pattern_has_a_docstring_with_an_example(name):
    module = controlflow if name in controlflow.__all__ else utils
    doc = getattr(module, name).__doc__
    assert doc and "Example::" in doc


# --------------------------------------------------------------------------
# with_nice_docs


def check(obj, eng):
    """User docstring of check."""
    return True


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (
            lambda: TASK_JUMP_IF(check, 2),
            f"TASK_JUMP_IF: args({check}, 2); kwargs().",
        ),
        (lambda: HALT(), "HALT: args(); kwargs()."),
        (
            lambda: FOR(range(3), "i", [], order="DSC")[0],
            "FOR: args(range(0, 3), i, []); kwargs(order<<class 'str'>>).",
        ),
        (
            lambda: SYNCHRONIZE(check, check, timeout=5),
            f"SYNCHRONIZE: args({check}, {check}); kwargs(timeout<<class 'int'>>).",
        ),
        (lambda: ENG_SET("k", 1), "ENG_SET: args(k, 1); kwargs()."),
        (
            lambda: WHILE(check, [check])[0],
            f"WHILE: args({check}, [{check}]); kwargs().",
        ),
    ],
)
def test_automatic_docstrings(make, expected):
    assert make().__doc__ == expected


@pytest.mark.parametrize(
    "make",
    [
        lambda: IF(check, [check], comment="the doc"),
        lambda: IF_ELSE(check, [check], [check], comment="the doc"),
        lambda: WHILE(check, [check], comment="the doc"),
        lambda: FOR([1], "v", [check], comment="the doc"),
        lambda: CHOICE(check, (True, check), comment="the doc"),
        lambda: SIMPLE_MERGE(check, check, comment="the doc"),
    ],
    ids=["IF", "IF_ELSE", "WHILE", "FOR", "CHOICE", "SIMPLE_MERGE"],
)
def test_comment_documents_the_first_task_the_factory_made(make):
    block = make()
    own = [item for item in block if getattr(item, "__doc__", None) == "the doc"]
    assert len(own) == 1
    assert check.__doc__ == "User docstring of check."


@pytest.mark.parametrize(
    "make",
    [
        lambda: TRY(check, comment="the doc"),
        lambda: CMP(1, 2, "<", comment="the doc"),
        lambda: BREAK(comment="the doc"),
        lambda: RUN_WF([check], comment="the doc"),
    ],
    ids=["TRY", "CMP", "BREAK", "RUN_WF"],
)
def test_comment_documents_a_single_task(make):
    assert make().__doc__ == "the doc"


def test_simple_merge_keeps_the_user_branch_docstring():
    # Section 12 fix 16: the user's first branch kept its docstring.
    merged = SIMPLE_MERGE(check, check)
    assert merged[0] is check
    assert check.__doc__ == "User docstring of check."
    assert merged[1].__doc__ == f"SIMPLE_MERGE: args({check}, {check}); kwargs()."


def test_with_nice_docs_on_a_user_factory():
    @with_nice_docs
    def ADD(number):
        def _add(obj, eng):
            obj.append(number)

        return _add

    assert ADD(3).__doc__ == "ADD: args(3); kwargs()."
    assert ADD(number=3).__doc__ == "ADD: args(); kwargs(number<<class 'int'>>)."
    assert ADD(3, comment="Add three").__doc__ == "Add three"
    assert ADD.__name__ == "ADD"


def test_with_nice_docs_leaves_returned_user_functions_alone():
    @with_nice_docs
    def PASS_THROUGH(task):
        return task

    assert PASS_THROUGH(check, comment="nope") is check
    assert check.__doc__ == "User docstring of check."


# --------------------------------------------------------------------------
# Small tasks


def test_empty_call_does_nothing(engine_class):
    obj = {"a": 1}
    eng = run(engine_class, [EMPTY_CALL], [obj])
    assert obj == {"a": 1}
    assert eng.extra_data == {}


def test_eng_get_returns_and_stores_none():
    eng = GenericWorkflowEngine()
    assert ENG_GET("missing")(None, eng) is None
    assert eng.extra_data == {"missing": None}
    eng.extra_data["k"] = 4
    assert ENG_GET("k")(None, eng) == 4


def test_eng_set_and_obj_set(engine_class):
    obj = {}
    eng = run(engine_class, [ENG_SET("e", 1), OBJ_SET("o", 2)], [obj])
    assert eng.extra_data["e"] == 1
    assert obj == {"o": 2}


def test_eng_get_as_a_condition(engine_class):
    recorder = Recorder()
    definition = [ENG_SET("go", True), IF(ENG_GET("go"), recorder.task("went"))]
    run(engine_class, definition, ["o"])
    assert recorder.names() == ["went"]


OBJ = {"a": 1, "b": 0, "c": "x"}


@pytest.mark.parametrize(
    ("something", "cond", "expected"),
    [
        ("a", "all", 1),
        ("b", "all", 0),
        ("z", "all", False),
        (["a", "c"], "all", {"a": 1, "c": "x"}),
        (["a", "b"], "all", False),
        (["a", "z"], "ALL", False),
        (["b", "c", "a"], "any", "x"),
        (["b", "z"], "any", None),
        (["a", "b", "c", "z"], "many", {"a": 1, "c": "x"}),
        (["b", "z"], "many", {}),
    ],
)
def test_obj_get(something, cond, expected):
    assert OBJ_GET(something, cond)(OBJ, None) == expected


def test_obj_get_unknown_cond():
    with pytest.raises(ValueError, match="OBJ_GET: cond"):
        OBJ_GET(["a"], "some")


def test_error_names_the_defining_file(engine_class):
    eng = engine_class()
    eng.callbacks.replace([ERROR("bad record")])
    with pytest.raises(Exception) as info:
        eng.process(["o"])
    assert str(info.value) == f"in {__file__} : bad record"
    assert ERROR().__name__ == "ERROR"


def test_error_default_message():
    with pytest.raises(Exception, match=" : Error in the workflow$"):
        ERROR()(None, None)


# --------------------------------------------------------------------------
# TRY


def failing(times, exc=ValueError):
    calls = []

    def _task(obj, eng):
        calls.append(obj)
        if len(calls) <= times:
            raise exc(f"failure {len(calls)}")
        return "ok"

    _task.calls = calls
    return _task


def test_try_retries_until_success(engine_class):
    task = failing(2)
    run(engine_class, [TRY(task, retry=2, verbose=False)], ["o"])
    assert task.calls == ["o", "o", "o"]


def test_try_returns_the_result():
    assert TRY(failing(1), verbose=False)("o", GenericWorkflowEngine()) == "ok"


def test_try_default_raises_after_the_last_retry(engine_class):
    # Section 12 fix 9: the default onfailure swallowed the failure.
    task = failing(5)
    eng = engine_class()
    eng.callbacks.replace([TRY(task, retry=1, verbose=False)])
    with pytest.raises(Exception) as info:
        eng.process(["o"])
    assert type(info.value) is Exception
    assert str(info.value) == (
        "TRY: _task failed 2 time(s); last error: ValueError('failure 2')"
    )
    assert isinstance(info.value.__cause__, ValueError)
    assert task.calls == ["o", "o"]


def test_try_onfailure_exception_class():
    task = failing(5)
    with pytest.raises(RuntimeError, match="failed 1 time") as info:
        TRY(task, retry=0, onfailure=RuntimeError, verbose=False)("o", None)
    assert str(info.value.__cause__) == "failure 1"


def test_try_onfailure_exception_instance():
    error = LookupError("gave up")
    with pytest.raises(LookupError) as info:
        TRY(failing(5), onfailure=error, verbose=False)("o", None)
    assert info.value is error
    assert str(info.value.__cause__) == "failure 2"


def test_try_onfailure_callable(engine_class):
    recorder = Recorder()
    definition = [TRY(failing(5), onfailure=recorder.task("fallback"), verbose=False)]
    run(engine_class, definition, ["o"])
    assert recorder.calls == [("o", "fallback")]


def test_try_onfailure_task_can_halt(engine_class):
    eng = engine_class()
    eng.callbacks.replace([TRY(failing(5), onfailure=HALT(), verbose=False)])
    with pytest.raises(HaltProcessing):
        eng.process(["o"])


def test_try_onfailure_none_gives_up_quietly():
    assert TRY(failing(5), onfailure=None, verbose=False)("o", None) is None


def test_try_lets_workflow_transitions_through_at_once(engine_class):
    calls = []

    def halts(obj, eng):
        calls.append(obj)
        eng.halt("wait")

    eng = engine_class()
    eng.callbacks.replace([TRY(halts, retry=3, verbose=False)])
    with pytest.raises(HaltProcessing):
        eng.process(["o"])
    assert calls == ["o"]


def test_try_verbose_logs_each_failure(caplog):
    eng = GenericWorkflowEngine()
    with caplog.at_level(logging.ERROR, logger=eng.log.name):
        TRY(failing(2), retry=2)("o", eng)
    assert [r.getMessage() for r in caplog.records] == [
        "TRY: attempt 1 of 3 of _task failed",
        "TRY: attempt 2 of 3 of _task failed",
    ]
    assert all(r.exc_info[0] is ValueError for r in caplog.records)


@pytest.mark.parametrize(
    ("make", "exception", "fragment"),
    [
        (lambda: TRY("not callable"), TypeError, "TRY: onecall"),
        (lambda: TRY(check, retry=-1), ValueError, "TRY: retry"),
        (lambda: TRY(check, retry="2"), TypeError, "TRY: retry"),
        (lambda: TRY(check, onfailure=3), TypeError, "TRY: onfailure"),
    ],
)
def test_try_misuse(make, exception, fragment):
    with pytest.raises(exception, match=fragment):
        make()


# --------------------------------------------------------------------------
# RUN_WF


def count_runs(obj, eng):
    eng.extra_data["runs"] = eng.extra_data.get("runs", 0) + 1
    obj["seen"].append(eng.extra_data["runs"])


def objects_of(count):
    return [{"seen": []} for _ in range(count)]


def seen(objects):
    return [obj["seen"] for obj in objects]


def test_run_wf_keeps_its_engine_between_calls(engine_class):
    objects = objects_of(2)
    eng = run(engine_class, [RUN_WF([count_runs], outkey="sub")], objects)
    assert seen(objects) == [[1], [2]]
    sub = eng.extra_data["sub"]
    assert type(sub) is engine_class
    assert sub is not eng
    assert sub.extra_data["runs"] == 2


def test_run_wf_reinit_makes_a_new_engine_each_call(engine_class):
    objects = objects_of(2)
    eng = run(engine_class, [RUN_WF([count_runs], outkey="sub", reinit=True)], objects)
    assert seen(objects) == [[1], [1]]
    assert eng.extra_data["sub"].extra_data["runs"] == 1


def test_run_wf_reinit_needs_an_outkey():
    with pytest.raises(ValueError, match="RUN_WF: reinit=True needs an outkey"):
        RUN_WF([count_runs], outkey=None, reinit=True)


def test_run_wf_without_outkey_keeps_a_private_engine(engine_class):
    objects = objects_of(2)
    eng = run(engine_class, [RUN_WF([count_runs], outkey=None)], objects)
    assert seen(objects) == [[1], [2]]
    assert "RUN_WF" not in eng.extra_data


def test_run_wf_default_outkey(engine_class):
    eng = run(engine_class, [RUN_WF(count_runs)], objects_of(1))
    assert eng.extra_data["RUN_WF"].extra_data["runs"] == 1


def test_run_wf_engine_class():
    class Other(GenericWorkflowEngine):
        pass

    eng = run(
        GenericWorkflowEngine, [RUN_WF([count_runs], engine=Other)], objects_of(1)
    )
    assert type(eng.extra_data["RUN_WF"]) is Other


def copy_setting(obj, eng):
    obj["seen"].append(eng.extra_data["setting"])


def test_run_wf_pass_eng_only_on_the_first_call(engine_class):
    def change_setting(obj, eng):
        eng.extra_data["setting"] += 1

    objects = objects_of(2)
    definition = [RUN_WF([copy_setting], pass_eng=["setting"]), change_setting]
    eng = engine_class()
    eng.extra_data["setting"] = 10
    eng.callbacks.replace(definition)
    eng.process(objects)
    assert seen(objects) == [[10], [10]]


@pytest.mark.parametrize(
    "options", [{"pass_always": True}, {"reinit": True}], ids=["always", "reinit"]
)
def test_run_wf_pass_eng_every_call(engine_class, options):
    def change_setting(obj, eng):
        eng.extra_data["setting"] += 1

    objects = objects_of(2)
    definition = [RUN_WF([copy_setting], pass_eng=["setting"], **options)]
    eng = engine_class()
    eng.extra_data["setting"] = 10
    eng.callbacks.replace([*definition, change_setting])
    eng.process(objects)
    assert seen(objects) == [[10], [11]]


def test_run_wf_pass_eng_missing_key(engine_class):
    eng = engine_class()
    eng.callbacks.replace([RUN_WF([copy_setting], pass_eng=["setting"])])
    with pytest.raises(KeyError, match="pass_eng names 'setting'"):
        eng.process(objects_of(1))


def test_run_wf_pass_eng_after_a_failed_first_call(engine_class):
    # The sub-engine of a call that found a key missing is not kept, so the
    # next call is still the first one and copies the keys.
    got = []

    def record(obj, eng):
        got.append(dict(eng.extra_data))

    eng = engine_class()
    eng.callbacks.replace([RUN_WF([record], pass_eng=["cfg"], outkey="sub")])
    with pytest.raises(KeyError, match="pass_eng names 'cfg'"):
        eng.process([1])
    assert "sub" not in eng.extra_data
    eng.extra_data["cfg"] = 42
    eng.process([2])
    assert got == [{"cfg": 42}]


def test_run_wf_data_connector(engine_class):
    got = []

    def record(obj, eng):
        got.append(obj)

    definition = [RUN_WF([record], data_connector=lambda obj, eng: obj["parts"])]
    run(engine_class, definition, [{"parts": ["p1", "p2"]}])
    assert got == ["p1", "p2"]


def test_run_wf_wraps_a_non_list_object(engine_class):
    got = []
    run(engine_class, [RUN_WF([lambda o, e: got.append(o)])], [{"id": 1}])
    assert got == [{"id": 1}]


def test_run_wf_processes_a_list_object_as_the_objects(engine_class):
    got = []
    run(engine_class, [RUN_WF([lambda o, e: got.append(o)])], [["a", "b"]])
    assert got == ["a", "b"]


def test_run_wf_halt_reaches_the_caller(engine_class):
    eng = engine_class()
    eng.callbacks.replace([RUN_WF([HALT()])])
    with pytest.raises(HaltProcessing):
        eng.process(objects_of(1))


@pytest.mark.parametrize(
    ("make", "exception", "fragment"),
    [
        (lambda: RUN_WF(5), TypeError, "RUN_WF: workflow"),
        (lambda: RUN_WF([check], engine=5), TypeError, "RUN_WF: engine"),
        (lambda: RUN_WF([check], data_connector=5), TypeError, "data_connector"),
    ],
)
def test_run_wf_misuse(make, exception, fragment):
    with pytest.raises(exception, match=fragment):
        make()


# --------------------------------------------------------------------------
# CALLFUNC


def join(*args, **kwargs):
    return (args, dict(sorted(kwargs.items())))


def test_callfunc_builds_arguments_from_everywhere(engine_class):
    task = CALLFUNC(
        join,
        outkey="out",
        args=[1],
        oeargs=["Oa", "Eb", "c", "d"],
        ekeys={"ek": "b"},
        okeys={"ok": "a"},
        extra="x",
    )
    obj = {"a": "obj-a", "c": "obj-c"}
    eng = engine_class()
    eng.extra_data.update({"b": "eng-b", "c": "eng-c", "d": "eng-d"})
    eng.callbacks.replace([task])
    eng.process([obj])
    assert obj["out"] == (
        (1, "obj-a", "eng-b", "obj-c", "eng-d"),
        {"ek": "eng-b", "extra": "x", "ok": "obj-a"},
    )


def test_callfunc_does_not_accumulate_arguments():
    # Section 12 fix 12: arguments used to pile up across calls.
    task = CALLFUNC(join, outkey="out", args=[1], oeargs=["Ov"], okeys={"k": "v"})
    first, second = {"v": "a"}, {"v": "b"}
    task(first, GenericWorkflowEngine())
    task(second, GenericWorkflowEngine())
    assert first["out"] == ((1, "a"), {"k": "a"})
    assert second["out"] == ((1, "b"), {"k": "b"})


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"oeargs": ["Omissing"]}, "'Omissing' names key 'missing'"),
        ({"oeargs": ["Emissing"]}, "'Emissing' names key 'missing'"),
        ({"oeargs": ["missing"]}, "not in the object nor eng.extra_data"),
        ({"ekeys": {"x": "missing"}}, "ekeys maps 'x' to 'missing'"),
        ({"okeys": {"x": "missing"}}, "okeys maps 'x' to 'missing'"),
    ],
)
def test_callfunc_missing_key_is_a_clear_error(options, fragment):
    # Section 12 fix 12: a missing key called sys.exit.
    task = CALLFUNC(join, **options)
    with pytest.raises(KeyError, match=fragment):
        task({}, GenericWorkflowEngine())


def test_callfunc_okeys_index_a_sequence_object(engine_class):
    got = []
    task = CALLFUNC(lambda **kw: got.append(kw), okeys={"first": 0, "last": -1})
    run(engine_class, [task], [["a", "b"]])
    assert got == [{"first": "a", "last": "b"}]


def test_callfunc_okeys_index_out_of_range_is_a_clear_error():
    task = CALLFUNC(join, okeys={"third": 2})
    with pytest.raises(KeyError, match="okeys maps 'third' to 2"):
        task(["a", "b"], GenericWorkflowEngine())


def test_callfunc_function_error_propagates():
    def broken():
        raise ZeroDivisionError("no")

    with pytest.raises(ZeroDivisionError):
        CALLFUNC(broken)({}, GenericWorkflowEngine())


def test_callfunc_dotted_path():
    obj = {"name": "b"}
    CALLFUNC("posixpath.join", outkey="path", args=["a"], oeargs=["Oname"])(obj, None)
    assert obj == {"name": "b", "path": "a/b"}


def test_callfunc_without_outkey_stores_nothing():
    obj = {}
    CALLFUNC(join, args=[1])(obj, None)
    assert obj == {}


@pytest.mark.parametrize(
    ("make", "exception", "fragment"),
    [
        (lambda: CALLFUNC(5), TypeError, "CALLFUNC: func"),
        (lambda: CALLFUNC("nodots"), ValueError, "dotted path"),
        (lambda: CALLFUNC("os.path.no_such_name"), ValueError, "no attribute"),
        (lambda: CALLFUNC("os.sep"), TypeError, "not callable"),
        (lambda: CALLFUNC(join, debug=True), ValueError, "stopper"),
        (lambda: CALLFUNC(join, stopper=5), TypeError, "stopper"),
        (lambda: CALLFUNC(join, oeargs=[""]), TypeError, "oeargs"),
    ],
)
def test_callfunc_misuse(make, exception, fragment):
    with pytest.raises(exception, match=fragment):
        make()


def test_callfunc_dotted_path_to_a_missing_module():
    with pytest.raises(ModuleNotFoundError):
        CALLFUNC("no_such_module_here.func")


@pytest.fixture
def temporary_module(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    name = "callfunc_debug_target"

    def write(body):
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
        importlib.invalidate_caches()

    yield name, write
    sys.modules.pop(name, None)


def test_callfunc_debug_reloads_and_retries(temporary_module):
    name, write = temporary_module
    write("def compute(x):\n    raise ValueError('not yet')\n")
    stopper_calls = []

    def stopper(x):
        stopper_calls.append(x)
        # Fix the module, as a developer would, before the reload.
        write("def compute(x):\n    return x * 10  # fixed\n")
        return False

    obj = {}
    CALLFUNC(f"{name}.compute", outkey="out", debug=True, stopper=stopper, args=[4])(
        obj, GenericWorkflowEngine()
    )
    assert obj == {"out": 40}
    assert stopper_calls == [4]


def test_callfunc_debug_stops_when_the_stopper_says_so(temporary_module):
    name, write = temporary_module
    write("def compute(x):\n    raise ValueError('still broken')\n")
    stops = []

    def stopper(x):
        stops.append(x)
        return len(stops) == 2

    task = CALLFUNC(f"{name}.compute", debug=True, stopper=stopper, args=[1])
    with pytest.raises(ValueError, match="still broken"):
        task({}, GenericWorkflowEngine())
    assert stops == [1, 1]


def test_callfunc_debug_retries_a_function_it_cannot_reload():
    namespace = {"__name__": "not_an_imported_module", "calls": []}
    exec(
        "def flaky():\n"
        "    calls.append(1)\n"
        "    if len(calls) < 2:\n"
        "        raise ValueError('first call fails')\n"
        "    return 'ok'\n",
        namespace,
    )
    obj = {}
    task = CALLFUNC(namespace["flaky"], outkey="out", debug=True, stopper=lambda: False)
    task(obj, GenericWorkflowEngine())
    assert obj == {"out": "ok"}
    assert namespace["calls"] == [1, 1]


def test_callfunc_bare_key_falls_back_to_the_engine_for_any_object():
    eng = GenericWorkflowEngine()
    eng.extra_data["k"] = "from engine"
    holder = []
    CALLFUNC(holder.append, oeargs=["k"])(5, eng)
    assert holder == ["from engine"]


def test_callfunc_never_exits_the_process():
    def broken():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        CALLFUNC(broken)({}, GenericWorkflowEngine())


# --------------------------------------------------------------------------
# PROFILE


def busy(obj, eng):
    obj.append(sum(range(100)))


def test_profile_writes_the_profile_and_reports(tmp_path, engine_class):
    output = tmp_path / "run.prof"
    obj = []
    run(
        engine_class,
        [PROFILE(busy, output=str(output), stats=["time", "calls"])],
        [obj],
    )
    assert obj == [4950]
    assert output.stat().st_size > 0
    for key in ("time", "calls"):
        report = (tmp_path / f"run.prof.stats-{key}").read_text()
        assert "function calls" in report
        assert "busy" in report
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "run.prof",
        "run.prof.stats-calls",
        "run.prof.stats-time",
    ]


def test_profile_prints_without_output(capsys, engine_class):
    obj = []
    run(engine_class, [PROFILE(busy)], [obj])
    printed = capsys.readouterr().out
    assert obj == [4950]
    assert "function calls" in printed
    assert "busy" in printed


def test_profile_prints_unsorted_without_stats(capsys):
    obj = []
    PROFILE(busy, stats=[])(obj, None)
    assert "busy" in capsys.readouterr().out


def test_profile_runs_a_block_in_a_new_engine(tmp_path, engine_class):
    recorder = Recorder()
    output = tmp_path / "block.prof"
    definition = [PROFILE([recorder.task("a"), recorder.task("b")], output=str(output))]
    run(engine_class, definition, ["o"])
    assert recorder.calls == [("o", "a"), ("o", "b")]
    assert (tmp_path / "block.prof.stats-pcalls").exists()


def test_profile_reports_even_when_the_call_fails(tmp_path):
    def broken(obj, eng):
        raise ValueError("no")

    output = tmp_path / "fail.prof"
    with pytest.raises(ValueError):
        PROFILE(broken, output=str(output), stats=["cumulative"])(None, None)
    assert "broken" in (tmp_path / "fail.prof.stats-cumulative").read_text()


@pytest.mark.parametrize(
    ("make", "exception", "fragment"),
    [
        (lambda: PROFILE(5), TypeError, "PROFILE: call"),
        (lambda: PROFILE(busy, stats=["speed"]), ValueError, "'speed'"),
    ],
)
def test_profile_misuse(make, exception, fragment):
    with pytest.raises(exception, match=fragment):
        make()


# --------------------------------------------------------------------------
# DEBUG_CYCLE


def test_debug_cycle_runs_until_the_stopper(capsys):
    stops = []

    def stopper(obj, eng):
        stops.append(obj["n"])
        return obj["n"] >= 3

    task = DEBUG_CYCLE(
        "obj['n'] += step",
        setup="obj.setdefault('setups', 0); obj['setups'] += 1",
        debug_stopper=stopper,
        step=1,
    )
    obj = {"n": 0}
    task(obj, GenericWorkflowEngine())
    assert obj == {"n": 3, "setups": 3}
    assert stops == [1, 2, 3]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for number, line in enumerate(lines, start=1):
        assert re.fullmatch(rf"DEBUG_CYCLE: run {number} took \d+\.\d{{6}} s", line)


def test_debug_cycle_runs_onerror_after_a_failure(capsys):
    task = DEBUG_CYCLE(
        "if obj['fail']: raise ValueError('x')",
        onerror="obj['fail'] = False; obj['fixed'] = eng is not None",
        debug_stopper=lambda obj, eng: not obj["fail"],
    )
    obj = {"fail": True}
    task(obj, GenericWorkflowEngine())
    assert obj == {"fail": False, "fixed": True}
    captured = capsys.readouterr()
    assert "ValueError: x" in captured.err
    assert captured.out.count("DEBUG_CYCLE: run") == 2


def test_debug_cycle_without_stopper_runs_once(capsys):
    obj = {"n": 0}
    DEBUG_CYCLE("obj['n'] += 1")(obj, None)
    assert obj == {"n": 1}


@pytest.mark.parametrize(
    ("make", "exception", "fragment"),
    [
        (lambda: DEBUG_CYCLE(5), TypeError, "DEBUG_CYCLE: stmt"),
        (lambda: DEBUG_CYCLE("x", setup=5), TypeError, "DEBUG_CYCLE: setup"),
        (lambda: DEBUG_CYCLE("x", debug_stopper=5), TypeError, "debug_stopper"),
        (lambda: DEBUG_CYCLE("x = ("), SyntaxError, "never closed|unexpected EOF"),
    ],
)
def test_debug_cycle_misuse(make, exception, fragment):
    with pytest.raises(exception, match=fragment):
        make()


# --------------------------------------------------------------------------
# Engines that cannot be built without arguments


class NeedsArgument(GenericWorkflowEngine):
    def __init__(self, db_obj):
        super().__init__()


@pytest.mark.parametrize(
    "make",
    [lambda: RUN_WF([check]), lambda: PROFILE([check])],
    ids=["RUN_WF", "PROFILE"],
)
def test_sub_engine_needs_a_constructible_class(make, capsys):
    eng = NeedsArgument(None)
    eng.callbacks.replace([make()])
    with pytest.raises(WorkflowError, match="constructible without arguments"):
        eng.process([[]])
