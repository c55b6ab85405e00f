"""A definition that halts each object for approval, and its halt actions.

Imported by the holding pen tests, and by ``workflow serve --import`` in the
browser tests.
"""

from __future__ import annotations

from typing import Any

from workflow.storage import registry
from workflow.web.actions import LEAVE, RESUME, ActionRequest, Outcome, halt_actions


def ask_approval(obj: Any, eng: Any) -> None:
    """Halt until a person decides about the object's grade."""
    if "decision" not in obj.data:
        eng.halt(
            f"Approve the grade of {obj.data['student']}?",
            action="approval",
            payload={"grade": obj.data["grade"]},
        )


def record(obj: Any, eng: Any) -> None:
    """Mark the decided object as recorded."""
    obj.data["recorded"] = True


workflow = [ask_approval, record]
registry.register("approval", workflow)


@halt_actions.handler("approval", "approve", label="Approve")
def approve(request: ActionRequest) -> Outcome:
    """Record who approved, then go on."""
    request.data["decision"] = "approved"
    request.data["by"] = request.user_name
    return RESUME


@halt_actions.handler("approval", "reject", label="Reject", fields=("reason",))
def reject(request: ActionRequest) -> Outcome:
    """Record the rejection and its reason, then go on."""
    request.data["decision"] = "rejected"
    request.data["reason"] = request.params["reason"]
    return RESUME


@halt_actions.handler("approval", "note", label="Add a note", fields=("note",))
def note(request: ActionRequest) -> Outcome:
    """Keep a note on the object and leave it halted."""
    request.data.setdefault("notes", []).append(request.params["note"])
    return LEAVE
