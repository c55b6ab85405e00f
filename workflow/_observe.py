"""What the engine tells observers: outcomes, task names and log fields.

This module needs no blinker. :mod:`workflow.signals` registers its
per-object and per-task signals here (:func:`register`) when a receiver is
first connected to one of them; until then nobody is listening, and a run
checks nothing more.
"""

from __future__ import annotations

from typing import Any

from ._pattern import pattern_of
from .errors import WorkflowTransition

__all__ = (
    "OBJECT_OUTCOMES",
    "TASK_OK",
    "log_extra",
    "object_outcome",
    "register",
    "task_at",
    "task_name",
    "task_outcome",
)

OBJECT_OUTCOMES: dict[str, str] = {
    "HaltProcessing": "halted",
    "StopProcessing": "stopped",
    "AbortProcessing": "aborted",
    "SkipToken": "skipped",
    "ContinueNextToken": "continued",
    "JumpToken": "jumped",
    "JumpTokenForward": "jumped",
    "JumpTokenBack": "jumped",
}
"""The ``outcome`` of an object left by each control-flow exception, by the
exception's class name (the name its transition action is looked up by)."""

COMPLETED = "completed"
ERROR = "error"
SUPERSEDED = "superseded"
TASK_OK = "ok"

SIGNALS: Any = None
"""``(object_started, object_finished, task_finished)`` once a receiver has
been connected to one of them, else ``None``: until then a run checks
nothing more."""


def register(object_started: Any, object_finished: Any, task_finished: Any) -> None:
    """Make the per-object and per-task signals known to the engine."""
    global SIGNALS
    SIGNALS = (object_started, object_finished, task_finished)


def object_outcome(exc: BaseException) -> str:
    """The ``outcome`` of an object whose tasks raised ``exc``."""
    return OBJECT_OUTCOMES.get(type(exc).__name__, ERROR)


def task_outcome(exc: BaseException) -> str:
    """The ``outcome`` of a task that raised ``exc``.

    A control-flow exception (:class:`~workflow.errors.WorkflowTransition`)
    is named by its class; any other exception is ``"error"``.
    """
    if isinstance(exc, WorkflowTransition):
        return type(exc).__name__
    return ERROR


def _name(function: Any) -> str:
    name = getattr(function, "__name__", None)
    return name if isinstance(name, str) else type(function).__name__


def task_name(task: Any) -> str:
    """The name a task is known by in logs and traces: its function's name.

    A task made by a pattern factory is named after the function its
    description carries: the condition of ``IF``, ``WHILE``, ``IF_ELSE``,
    ``TASK_JUMP_IF``..., the arbiter of ``CHOICE``, the list source of
    ``FOR`` (so ``IF(grade_is_not_passing, ...)`` is
    ``"grade_is_not_passing"``, never ``"IF"``). A pattern task without a
    function of the user's (``BREAK``, ``TASK_JUMP_BWD``, ``HALT``...) keeps
    the factory's name.
    """
    pattern = pattern_of(task)
    if pattern is not None:
        if pattern.cond is not None:
            return _name(pattern.cond)
        if pattern.decide is not None and pattern.tasks:
            return _name(pattern.tasks[0])
    return _name(task)


def task_at(definition: Any, callback_pos: list[int]) -> Any:
    """The item of ``definition`` at ``callback_pos``, or ``None`` if none is there.

    The walk stops at the first item that is not a block, as
    :attr:`~workflow.engine.GenericWorkflowEngine.current_taskname` does.
    """
    node = definition
    try:
        for index in callback_pos:
            if not isinstance(node, (list, tuple)):
                break
            if index < 0:
                return None
            node = node[index]
    except (IndexError, TypeError):
        return None
    if isinstance(node, (list, tuple)):
        return None
    return node


def log_extra(eng: Any, task: Any) -> dict[str, Any] | None:
    """``eng.log_fields(task)``, or ``None`` for an engine without the method."""
    fields = getattr(eng, "log_fields", None)
    return None if fields is None else fields(task)
