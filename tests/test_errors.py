"""``workflow.errors``: the exception classes (SPEC 2)."""

from __future__ import annotations

import pickle

import pytest

from workflow import errors
from workflow.errors import (
    AbortProcessing,
    BreakFromThisLoop,
    ContinueNextToken,
    HaltProcessing,
    JumpCall,
    JumpCallBack,
    JumpCallForward,
    JumpToken,
    JumpTokenBack,
    JumpTokenForward,
    SkipToken,
    StopProcessing,
    WorkflowAPIError,
    WorkflowDefinitionError,
    WorkflowError,
    WorkflowObjectStatusError,
    WorkflowTransition,
    with_str,
)

TRANSITIONS = [
    StopProcessing,
    HaltProcessing,
    ContinueNextToken,
    JumpToken,
    JumpTokenForward,
    JumpTokenBack,
    JumpCall,
    JumpCallForward,
    JumpCallBack,
    BreakFromThisLoop,
    SkipToken,
    AbortProcessing,
]


@pytest.mark.parametrize("cls", TRANSITIONS, ids=lambda cls: cls.__name__)
def test_control_flow_exceptions_are_workflow_transitions(cls):
    assert issubclass(cls, WorkflowTransition)
    assert issubclass(WorkflowTransition, Exception)


@pytest.mark.parametrize(
    "cls",
    [
        WorkflowError,
        WorkflowDefinitionError,
        WorkflowObjectStatusError,
        WorkflowAPIError,
    ],
    ids=lambda cls: cls.__name__,
)
def test_error_classes_are_not_transitions(cls):
    assert issubclass(cls, Exception)
    assert not issubclass(cls, WorkflowTransition)


@pytest.mark.parametrize(
    "cls",
    [
        JumpToken,
        JumpTokenForward,
        JumpTokenBack,
        JumpCall,
        JumpCallForward,
        JumpCallBack,
    ],
    ids=lambda cls: cls.__name__,
)
def test_jump_exceptions_carry_their_offset_as_first_arg(cls):
    assert cls(-3).args[0] == -3


def test_halt_processing_defaults():
    halt = HaltProcessing()
    assert (halt.message, halt.action, halt.payload) == ("", None, None)


def test_halt_processing_keeps_its_arguments():
    halt = HaltProcessing("wait", action="approve", payload=[1])
    assert (halt.message, halt.action, halt.payload) == ("wait", "approve", [1])


def test_workflow_error_keeps_its_arguments_and_args_is_the_message():
    error = WorkflowError("bad", id_workflow="wf", id_object=3, payload={"a": 1})
    assert error.args == ("bad",)
    assert (error.message, error.id_workflow, error.id_object, error.payload) == (
        "bad",
        "wf",
        3,
        {"a": 1},
    )


def test_workflow_error_defaults():
    error = WorkflowError("bad")
    assert (error.id_workflow, error.id_object, error.payload) == (None, None, None)


def test_workflow_definition_error_keeps_its_arguments():
    error = WorkflowDefinitionError("missing", "my_wf", payload=5)
    assert (error.message, error.workflow_name, error.payload) == (
        "missing",
        "my_wf",
        5,
    )


def test_workflow_object_status_error_keeps_its_arguments():
    error = WorkflowObjectStatusError("refused", 7, "HALTED")
    assert (error.message, error.id_object, error.obj_status) == (
        "refused",
        7,
        "HALTED",
    )


def test_workflow_api_error_keeps_its_message():
    error = WorkflowAPIError("wrong argument")
    assert (error.message, error.args) == ("wrong argument", ("wrong argument",))


STRINGS = [
    pytest.param(
        HaltProcessing("wait", action="approve", payload={"k": 1}),
        "HaltProcessing(wait, action=approve, payload={'k': 1})",
        id="HaltProcessing",
    ),
    pytest.param(HaltProcessing(), "HaltProcessing(, action=None, payload=None)"),
    pytest.param(
        WorkflowError("bad", id_workflow="wf", id_object=3, payload=[1]),
        "WorkflowError(bad, id_workflow=wf, id_object=3, payload=[1])",
        id="WorkflowError",
    ),
    pytest.param(
        WorkflowDefinitionError("missing", "my_wf", payload=5),
        "WorkflowDefinitionError(missing, workflow_name=my_wf, payload=5)",
        id="WorkflowDefinitionError",
    ),
    pytest.param(
        WorkflowObjectStatusError("refused", 7, "HALTED"),
        "WorkflowObjectStatusError(refused, obj_status=HALTED, id_object=7)",
        id="WorkflowObjectStatusError",
    ),
]


@pytest.mark.parametrize(("error", "text"), STRINGS)
def test_str_of_the_with_str_classes(error, text):
    assert str(error) == text


def test_with_str_on_a_user_class_and_its_subclass():
    @with_str(("reason", ("code", "extra")))
    class MyError(Exception):
        def __init__(self, reason, code, extra=None):
            super().__init__(reason)
            self.reason = reason
            self.code = code
            self.extra = extra

    class SubError(MyError):
        pass

    assert str(MyError("boom", 3)) == "MyError(boom, code=3, extra=None)"
    assert str(SubError("boom", 3, extra=[1])) == "SubError(boom, code=3, extra=[1])"


def test_with_str_without_keywords():
    @with_str(("value", ()))
    class Plain(Exception):
        value = 12

    assert str(Plain()) == "Plain(12)"


PICKLED = [
    pytest.param(cls(), {}, id=cls.__name__)
    for cls in (
        StopProcessing,
        ContinueNextToken,
        BreakFromThisLoop,
        SkipToken,
        AbortProcessing,
    )
] + [
    pytest.param(cls(2), {}, id=cls.__name__)
    for cls in (
        JumpToken,
        JumpTokenForward,
        JumpTokenBack,
        JumpCall,
        JumpCallForward,
        JumpCallBack,
    )
]
PICKLED += [
    pytest.param(
        HaltProcessing("wait", action="approve", payload={"k": [1]}),
        {"message": "wait", "action": "approve", "payload": {"k": [1]}},
        id="HaltProcessing",
    ),
    pytest.param(
        WorkflowError("bad", id_workflow="wf", id_object=3, payload=(1, 2)),
        {"message": "bad", "id_workflow": "wf", "id_object": 3, "payload": (1, 2)},
        id="WorkflowError",
    ),
    pytest.param(
        WorkflowDefinitionError("missing", "my_wf", payload=5),
        {"message": "missing", "workflow_name": "my_wf", "payload": 5},
        id="WorkflowDefinitionError",
    ),
    pytest.param(
        WorkflowObjectStatusError("refused", 7, "HALTED"),
        {"message": "refused", "id_object": 7, "obj_status": "HALTED"},
        id="WorkflowObjectStatusError",
    ),
    pytest.param(
        WorkflowAPIError("wrong", "detail"),
        {"message": "wrong"},
        id="WorkflowAPIError",
    ),
]


@pytest.mark.parametrize("protocol", [0, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize(("error", "attributes"), PICKLED)
def test_every_exception_pickles_with_its_attributes_and_str(
    error, attributes, protocol
):
    clone = pickle.loads(pickle.dumps(error, protocol=protocol))
    assert type(clone) is type(error)
    assert clone.args == error.args
    assert {name: getattr(clone, name) for name in attributes} == attributes
    assert str(clone) == str(error)


def test_pickling_keeps_attributes_added_later():
    error = WorkflowError("bad")
    error.traceback_text = "Traceback ..."
    clone = pickle.loads(pickle.dumps(error))
    assert clone.traceback_text == "Traceback ..."


def test_every_public_name_is_exported():
    assert sorted(errors.__all__) == sorted(
        [cls.__name__ for cls in TRANSITIONS]
        + [
            "WorkflowTransition",
            "WorkflowError",
            "WorkflowDefinitionError",
            "WorkflowObjectStatusError",
            "WorkflowAPIError",
            "with_str",
        ]
    )
