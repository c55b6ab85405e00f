"""Running a generated definition to its end, for the property tests.

:func:`run_to_end` runs an engine over objects, resuming each halt and
checking the positions at every stop; :func:`reference_run` is the same
definition's run without halts, which resumed runs must equal.
"""

from __future__ import annotations

import copy
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.strategies import new_engine
from workflow.engine import GenericWorkflowEngine
from workflow.errors import HaltProcessing, WorkflowError

_LABEL = re.compile(r"^([a-z_]+?)(\d+)$")


# --------------------------------------------------------------------------
# Running a generated definition to its end


@dataclass
class Outcome:
    """What a run did: compared whole between runs that must agree.

    :ivar trace: the trace entries, in order.
    :ivar objects: the objects as the run left them.
    :ivar extra_data: the engine's ``extra_data`` less the ``halts`` switch.
    :ivar end: ``"finished"``, ``"stopped"`` or ``"<Exception>: <message>"``.
    :ivar halts: how many times the run halted (not compared).
    """

    trace: list[Any]
    objects: list[Any]
    extra_data: dict[str, Any]
    end: str
    halts: int = field(default=0, compare=False)


def kind_of(label: str) -> str:
    match = _LABEL.match(label)
    assert match, f"not a generated label: {label!r}"
    return match.group(1)


def task_at_position(eng: GenericWorkflowEngine) -> Any:
    """Follow ``callback_pos`` into the engine's definition; fail if it is no path."""
    node: Any = eng.callbacks.get("*")
    path = eng.state.callback_pos
    for depth, index in enumerate(path):
        assert isinstance(node, list), (
            f"callback_pos {path} goes through {node!r} at level {depth}, not a block"
        )
        assert 0 <= index < len(node), (
            f"callback_pos {path}: index {index} is outside the block of"
            f" {len(node)} items at level {depth}"
        )
        node = node[index]
    assert callable(node), f"callback_pos {path} ends at a block, not a task"
    return node


def task_entries(eng: GenericWorkflowEngine) -> list[Any]:
    """The trace entries made by tasks (leaving out those of recording hooks)."""
    return [
        entry
        for entry in eng.extra_data.get("trace", [])
        if entry[0] not in ("before", "after")
    ]


def check_stopped_at_last_entry(eng: GenericWorkflowEngine, kind: str) -> None:
    """The state points at the task (of ``kind``) that made the last trace entry."""
    label, obj_id = task_entries(eng)[-1][:2]
    assert kind_of(label) == kind, f"last entry {label} is not a {kind} task"
    assert getattr(task_at_position(eng), "label", None) == label
    assert eng.state.token_pos == obj_id


def check_token_bounds(eng: GenericWorkflowEngine) -> None:
    """``-1 <= token_pos <= len(objects)``."""
    assert -1 <= eng.state.token_pos <= len(eng.objects), eng.state


def check_end_state(eng: GenericWorkflowEngine) -> str:
    """Check the state after ``process`` returned; say whether it stopped."""
    check_token_bounds(eng)
    trace = task_entries(eng)
    if trace and kind_of(trace[-1][0]) == "stop" and trace[-1][2]:
        check_stopped_at_last_entry(eng, "stop")
        return "stopped"
    assert eng.state.callback_pos == [0]
    if eng.objects:
        assert eng.state.token_pos in (len(eng.objects) - 1, len(eng.objects))
        assert eng.has_completed
    else:
        assert eng.state.token_pos == -1
    return "finished"


def run_to_end(
    eng: GenericWorkflowEngine,
    objs: list[Any],
    resume: Callable[[GenericWorkflowEngine], GenericWorkflowEngine] | None = None,
) -> Outcome:
    """Run ``objs`` through ``eng``, resuming after each halt, and check positions.

    After each halt, ``resume`` (when given) returns the engine to go on
    with (e.g. a new one restored from a pickle); the run then goes on with
    ``restart('current', 'next')``. A ``ValueError`` or ``WorkflowError``
    raised by a task ends the run.
    """
    go_on: Callable[[], None] = lambda: eng.process(objs)  # noqa: E731
    halts = 0
    while True:
        try:
            go_on()
        except HaltProcessing:
            halts += 1
            check_token_bounds(eng)
            check_stopped_at_last_entry(eng, "halt")
            if resume is not None:
                eng = resume(eng)
            go_on = restarter(eng, "current", "next")
            continue
        except (ValueError, WorkflowError) as exc:
            check_token_bounds(eng)
            check_stopped_at_last_entry(eng, "raise")
            end = f"{type(exc).__name__}: {exc}"
        else:
            end = check_end_state(eng)
        extra = {k: v for k, v in eng.extra_data.items() if k != "halts"}
        return Outcome(eng.extra_data.get("trace", []), eng.objects, extra, end, halts)


def restarter(eng: GenericWorkflowEngine, obj: str, task: str) -> Callable[[], None]:
    return lambda: eng.restart(obj, task)


def reference_run(spec: list[Any], objs: list[Any]) -> Outcome:
    """Run ``spec`` over a copy of ``objs`` with every halt a no-op."""
    eng = new_engine(spec)
    eng.extra_data["halts"] = False
    outcome = run_to_end(eng, copy.deepcopy(objs))
    assert outcome.halts == 0
    return outcome


def resume_from_pickle(spec: list[Any]) -> Callable[[Any], GenericWorkflowEngine]:
    """Return a ``resume`` that pickles the halted run into a new engine."""

    def resume(eng: GenericWorkflowEngine) -> GenericWorkflowEngine:
        blob = pickle.dumps((eng.state, eng.objects, eng.extra_data))
        state, objs, extra_data = pickle.loads(blob)
        fresh = new_engine(spec)
        fresh.state = state
        fresh.objects = objs
        fresh.extra_data.update(extra_data)
        return fresh

    return resume
