"""The halt action registry (workflow.web.actions), which needs no web extra."""

from __future__ import annotations

import subprocess
import sys

import pytest

from workflow.web.actions import LEAVE, RESUME, HaltActions, Outcome, restart


def _handler(request):
    return RESUME


def test_actions_module_imports_without_starlette():
    code = (
        "import sys; sys.modules['starlette'] = None\n"
        "import workflow.web.actions\n"
        "print('starlette' in sys.modules and sys.modules['starlette'] is None)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout == "True\n"


def test_registered_choices_are_offered_in_registration_order():
    actions = HaltActions()
    actions.register("approval", "approve", _handler)
    actions.register("approval", "reject", _handler, fields=("reason",))
    choices = actions.choices("approval", "grading")
    assert [(c.name, c.label, c.fields) for c in choices] == [
        ("approve", "Approve", ()),
        ("reject", "Reject", ("reason",)),
    ]


def test_decorator_registers_and_returns_the_function():
    actions = HaltActions()
    decorated = actions.handler("approval", "approve", label="OK")(_handler)
    assert decorated is _handler
    assert actions.get("approval", "grading", "approve").label == "OK"


def test_registering_the_same_choice_again_replaces_it():
    actions = HaltActions()
    actions.register("approval", "approve", _handler, label="First")
    actions.register("approval", "approve", _handler, label="Second")
    assert [c.label for c in actions.choices("approval", "any")] == ["Second"]


def test_choices_for_one_workflow_hide_the_general_ones():
    actions = HaltActions()
    actions.register("approval", "approve", _handler)
    actions.register("approval", "sign", _handler, workflow="contracts")
    assert [c.name for c in actions.choices("approval", "contracts")] == ["sign"]
    assert [c.name for c in actions.choices("approval", "grading")] == ["approve"]


def test_a_halt_without_action_offers_nothing():
    actions = HaltActions()
    actions.register("approval", "approve", _handler)
    assert actions.choices(None, "grading") == []


def test_unknown_choice_is_none():
    actions = HaltActions()
    actions.register("approval", "approve", _handler)
    assert actions.get("approval", "grading", "reject") is None


@pytest.mark.parametrize("name", ["", "with space", "a/b", "x" * 65, "<b>"])
def test_badly_formed_choice_names_are_refused(name):
    with pytest.raises(ValueError, match="Bad choice name"):
        HaltActions().register("approval", name, _handler)


def test_badly_formed_field_names_are_refused():
    with pytest.raises(ValueError, match="Bad field name 'a b'"):
        HaltActions().register("approval", "reject", _handler, fields=("a b",))


def test_empty_action_is_refused():
    with pytest.raises(ValueError, match="non-empty str"):
        HaltActions().register("", "approve", _handler)


def test_handler_must_be_callable():
    with pytest.raises(TypeError, match="approval/approve is not callable"):
        HaltActions().register("approval", "approve", "not a function")


def test_restart_outcome_keeps_its_words():
    assert restart("next", "current") == Outcome("restart", "next", "current")


def test_restart_outcome_refuses_unknown_words():
    with pytest.raises(ValueError, match="Unknown object position 'last'"):
        restart("last")


def test_unknown_outcome_kind_is_refused():
    with pytest.raises(ValueError, match="Unknown outcome 'skip'"):
        Outcome("skip")


def test_resume_and_leave_are_outcomes():
    assert (RESUME.kind, LEAVE.kind) == ("resume", "leave")


def test_clear_forgets_every_choice():
    actions = HaltActions()
    actions.register("approval", "approve", _handler)
    actions.clear()
    assert actions.choices("approval", "grading") == []
