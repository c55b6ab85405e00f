"""Import paths (SPEC 1) and logging (SPEC 6.9, 12.13)."""

from __future__ import annotations

import importlib
import logging
import subprocess
import sys
import textwrap

import pytest

from workflow import errors

PUBLIC_NAMES = [
    ("workflow", ["__version__"]),
    ("workflow.version", ["__version__"]),
    ("workflow.errors", list(errors.__all__)),
    (
        "workflow.engine",
        [
            "GenericWorkflowEngine",
            "MachineState",
            "Callbacks",
            "ProcessingFactory",
            "ActionMapper",
            "TransitionActions",
            "Break",
            "Continue",
            "Signal",
            "_Signal",
            "get_logger",
            "reset_all_loggers",
        ],
    ),
    (
        "workflow.signals",
        ["workflow_started", "workflow_finished", "workflow_halted", "workflow_error"],
    ),
    ("workflow.utils", ["staticproperty", "classproperty"]),
    ("workflow.deprecation", ["deprecated"]),
]


@pytest.mark.parametrize(
    ("module_name", "names"), PUBLIC_NAMES, ids=[m for m, _ in PUBLIC_NAMES]
)
def test_each_module_has_its_public_names(module_name, names):
    module = importlib.import_module(module_name)
    assert [name for name in names if not hasattr(module, name)] == []


def test_the_errors_module_has_every_spec_name():
    assert sorted(errors.__all__) == sorted(
        [
            "WorkflowTransition",
            "StopProcessing",
            "HaltProcessing",
            "ContinueNextToken",
            "JumpToken",
            "JumpTokenForward",
            "JumpTokenBack",
            "JumpCall",
            "JumpCallForward",
            "JumpCallBack",
            "BreakFromThisLoop",
            "SkipToken",
            "AbortProcessing",
            "WorkflowError",
            "WorkflowDefinitionError",
            "WorkflowObjectStatusError",
            "WorkflowAPIError",
            "with_str",
        ]
    )


@pytest.mark.parametrize(
    "name", [name for name in errors.__all__ if name != "with_str"]
)
def test_the_engine_reexports_every_exception(name):
    from workflow import engine

    assert getattr(engine, name) is getattr(errors, name)


def test_version_is_a_plain_string():
    from workflow.version import __version__

    assert type(__version__) is str


def _run_python(code):
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout, result.stderr


def test_importing_the_engine_does_not_import_blinker():
    out, _ = _run_python(
        """
        import sys
        import workflow, workflow.engine, workflow.errors, workflow.utils
        import workflow.deprecation, workflow.version
        print(sorted(m for m in sys.modules if m.split(".")[0] == "blinker"))
        """
    )
    assert out == "[]\n"


def test_the_engine_runs_without_blinker_and_warns_once():
    out, err = _run_python(
        """
        import logging, sys
        sys.modules["blinker"] = None
        logging.basicConfig(format="%(levelname)s %(name)s %(message)s")
        from workflow.engine import GenericWorkflowEngine
        eng = GenericWorkflowEngine()
        eng.callbacks.replace([lambda obj, eng: print(obj)])
        eng.process([1, 2])
        eng.process([3])
        try:
            import workflow.signals
        except ImportError:
            print("no signals module")
        """
    )
    assert out == "1\n2\n3\nno signals module\n"
    assert err == (
        "WARNING workflow.engine.GenericWorkflowEngine Could not import signals"
        " lib; ignoring all future signal calls.\n"
    )


def test_the_library_attaches_no_handler_and_sets_no_level():
    out, _ = _run_python(
        """
        import logging
        from workflow.engine import GenericWorkflowEngine, get_logger
        eng = GenericWorkflowEngine()
        eng.callbacks.replace([lambda obj, eng: None])
        eng.process([1])
        get_logger("mine")
        names = ["workflow", eng.log.name, "workflow.mine"]
        print([(logging.getLogger(n).handlers, logging.getLogger(n).level)
               for n in names])
        print(logging.getLogger().handlers, eng.log.propagate)
        """
    )
    assert out == "[([], 0), ([], 0), ([], 0)]\n[] True\n"


def test_the_engine_logger_is_named_under_workflow():
    from workflow.engine import GenericWorkflowEngine

    name = GenericWorkflowEngine().log.name
    assert name == "workflow.engine.GenericWorkflowEngine"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("workflow", "workflow"),
        ("workflow.engine.X", "workflow.engine.X"),
        ("mine", "workflow.mine"),
        ("workflowish", "workflow.workflowish"),
    ],
)
def test_get_logger_names_loggers_under_workflow(name, expected):
    from workflow.engine import get_logger

    logger = get_logger(name)
    assert logger is logging.getLogger(expected)


@pytest.fixture
def restore_levels():
    from workflow.engine import _handed_out_loggers

    before = {name: logger.level for name, logger in _handed_out_loggers.items()}
    yield
    for name, logger in list(_handed_out_loggers.items()):
        logger.setLevel(before.get(name, logging.NOTSET))


def test_reset_all_loggers_sets_the_level_of_every_logger_handed_out(
    restore_levels,
):
    from workflow.engine import GenericWorkflowEngine, get_logger, reset_all_loggers

    first = get_logger("test_imports.first")
    engine_log = GenericWorkflowEngine().log
    unrelated = logging.getLogger("workflow.test_imports.never_handed_out")
    reset_all_loggers(logging.ERROR)
    assert (first.level, engine_log.level, unrelated.level) == (
        logging.ERROR,
        logging.ERROR,
        logging.NOTSET,
    )
