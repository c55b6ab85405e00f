"""Random workflow definitions and object lists for the property tests.

A definition is generated as a *spec*: plain nested tuples and lists that
Hypothesis can print, shrink and compare, that pickle, and that can be sent
to another process as JSON. :func:`build` turns a spec into a real definition
(a nested list of tasks, with the control-flow patterns expanded).

Node kinds of a spec (``k`` is how many times a control task fires per
object; after that it does nothing, so every run terminates):

``("task",)``
    a plain task.
``("halt", k)``
    halts the engine, unless ``eng.extra_data["halts"]`` is false, in which
    case it does nothing (the reference run of the resume property).
``("raise", k, exception_name)``
    raises ``ValueError`` or ``WorkflowError`` (the task's own exception).
``("jump_call", offset, k)``, ``("jump_token", offset, k)``, ``("break", k)``,
``("continue", k)``, ``("skip", k)``, ``("stop", k)``
    the engine's control methods.
``("append", k)``
    adds a plain task (labelled ``<label>_added``) to the end of the running
    definition with ``eng.callbacks.add()``.
``("restart", k, obj_word, task_word)``
    calls ``eng.restart(obj_word, task_word)`` on its own engine.
``("block", [nodes])``
    a nested block.
``("if_else", mask, node, node)``
    ``IF_ELSE``; the condition's answer on its n-th evaluation for an
    object is bit ``n % 4`` of ``mask``.
``("while", rounds, [nodes])``
    ``WHILE``; the condition holds for the first ``rounds`` evaluations on
    each object.
``("for", size, cache_data, order, [nodes])``
    ``FOR`` over ``range(size)``.

Every task the spec produces (plain and control tasks, conditions, FOR
setters) appends ``[label, object id, ..., callback_pos]`` to
``eng.extra_data["trace"]`` and counts itself in ``eng.extra_data["steps"]``; past
``eng.extra_data.get("budget", STEP_BUDGET)`` steps it raises
:class:`StepBudgetExceeded`, so a definition that would loop forever fails
its test instead of hanging it. Control tasks also record whether they
fired. Objects are dicts ``{"id": n}``; tasks keep their firing counts in
``obj["fired"]``, so the counts travel with the object (through pickle, or a
database row, whose ``.data`` is used when the object has one).
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from workflow.engine import GenericWorkflowEngine
from workflow.errors import WorkflowError
from workflow.patterns.controlflow import FOR, IF_ELSE, WHILE

Node = tuple
"""One node of a spec (see the module docstring)."""

_COMMON = {
    "deadline": None,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("workflow-ci", max_examples=400, derandomize=True, **_COMMON)
settings.register_profile("workflow-long", max_examples=5000, **_COMMON)

_PROFILE_NAMES = {"ci": "workflow-ci", "long": "workflow-long"}
_chosen = os.environ.get("WORKFLOW_HYPOTHESIS_PROFILE", "ci")
if _chosen not in _PROFILE_NAMES:
    raise RuntimeError(
        f"WORKFLOW_HYPOTHESIS_PROFILE={_chosen!r} is not a known profile; use"
        f" one of {sorted(_PROFILE_NAMES)} (or leave it unset for 'ci')"
    )
PROFILE = settings.get_profile(_PROFILE_NAMES[_chosen])
"""The settings every property test runs with (not loaded globally, so other
test modules keep their own Hypothesis settings)."""

SLOW_PROFILE = settings(PROFILE, max_examples=max(10, PROFILE.max_examples // 5))
"""Fewer examples, for the properties that run several engines per example."""


STEP_BUDGET = 20_000
"""More recorded steps than any generated definition can take on 4 objects."""

MAX_DEPTH = 5
"""Deepest nesting of blocks a generated definition has."""

MAX_WIDTH = 4
"""Most items a generated block has."""

MAX_OBJECTS = 4
"""Most objects a generated object list has."""

LEAF_KINDS = (
    "task",
    "append",
    "restart",
    "halt",
    "raise",
    "jump_call",
    "jump_token",
    "break",
    "continue",
    "skip",
    "stop",
)
"""Spec node kinds that become a single task."""

RECORDING_KINDS = frozenset(LEAF_KINDS)
"""Leaf kinds whose task records exactly one trace entry per call."""


class StepBudgetExceeded(Exception):
    """A generated definition ran more steps than it could if it terminated."""


@dataclass
class Built:
    """A definition built from a spec.

    :ivar definition: the nested list of tasks, ready for
        ``callbacks.replace``.
    :ivar tasks: every task of the spec's leaves, by label.
    :ivar kinds: the spec kind of every label (leaves, ``cond`` of
        IF_ELSE/WHILE and ``setter`` of FOR).
    """

    definition: list[Any]
    tasks: dict[str, Callable[..., Any]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)


def payload_of(obj: Any) -> dict[str, Any]:
    """Return the dict a task works on: ``obj`` itself, or a stored ``obj.data``."""
    data = getattr(obj, "data", obj)
    if not isinstance(data, dict):
        raise TypeError(
            f"generated tasks need dict objects (or stored objects whose .data"
            f" is a dict); got {type(data).__name__} {data!r:.60}"
        )
    return data


def _record(eng: Any, label: str, obj: Any, *extra: Any) -> dict[str, Any]:
    """Count one step, append the trace entry and return the object's dict."""
    extra_data = eng.extra_data
    steps = extra_data.get("steps", 0) + 1
    extra_data["steps"] = steps
    budget = extra_data.get("budget", STEP_BUDGET)
    if steps > budget:
        raise StepBudgetExceeded(
            f"{label} would be step {steps}, over the budget of {budget} steps:"
            " the definition does not terminate"
        )
    data = payload_of(obj)
    # The position makes the trace tell apart engines that run the same
    # tasks from different places (the lean and the hooked loop, say).
    position = list(eng.state.callback_pos)
    extra_data.setdefault("trace", []).append([label, data["id"], *extra, position])
    return data


def _visit(data: dict[str, Any], label: str) -> int:
    """Return how often ``label`` ran on this object before, counting this run."""
    fired = data.setdefault("fired", {})
    count = fired.get(label, 0)
    fired[label] = count + 1
    return count


def _make_leaf(node: Node, label: str, sink: list[BaseException] | None) -> Any:
    kind = node[0]
    if kind == "task":

        def task(obj: Any, eng: Any) -> None:
            _record(eng, label, obj)

        return task

    if kind == "halt":
        limit = node[1]

        def halt(obj: Any, eng: Any) -> None:
            data = payload_of(obj)
            due = _visit(data, label) < limit
            # The entry is the same whether halts are on or off, so that a
            # resumed run and a run without halts leave equal traces.
            _record(eng, label, obj, due)
            if due and eng.extra_data.get("halts", True):
                eng.halt(f"{label} halts object {data['id']}")

        return halt

    if kind == "raise":
        limit, exception_name = node[1], node[2]
        exception_class = (
            ValueError if exception_name == "ValueError" else WorkflowError
        )

        def raise_(obj: Any, eng: Any) -> None:
            data = payload_of(obj)
            fires = _visit(data, label) < limit
            _record(eng, label, obj, fires)
            if fires:
                exc = exception_class(f"{label} fails on object {data['id']}")
                if sink is not None:
                    sink.append(exc)
                raise exc

        return raise_

    if kind in ("jump_call", "jump_token"):
        offset, limit = node[1], node[2]
        method = kind

        def jump(obj: Any, eng: Any) -> None:
            fires = _visit(payload_of(obj), label) < limit
            _record(eng, label, obj, fires)
            if fires:
                getattr(eng, method)(offset)

        return jump

    if kind == "append":
        limit = node[1]
        added_label = f"{label}_added"

        def added(obj: Any, eng: Any) -> None:
            _record(eng, added_label, obj)

        added = _name(added, added_label)

        def append(obj: Any, eng: Any) -> None:
            fires = _visit(payload_of(obj), label) < limit
            _record(eng, label, obj, fires)
            if fires:
                eng.callbacks.add(added)

        return append

    if kind == "restart":
        limit, obj_word, task_word = node[1], node[2], node[3]

        def restart(obj: Any, eng: Any) -> None:
            fires = _visit(payload_of(obj), label) < limit
            _record(eng, label, obj, fires)
            if fires:
                eng.restart(obj_word, task_word)

        return restart

    method = {
        "break": "break_current_loop",
        "continue": "continue_next_token",
        "skip": "skip_token",
        "stop": "stop",
    }[kind]
    limit = node[1]

    def control(obj: Any, eng: Any) -> None:
        fires = _visit(payload_of(obj), label) < limit
        _record(eng, label, obj, fires)
        if fires:
            getattr(eng, method)()

    return control


def _name(function: Any, label: str) -> Any:
    function.__name__ = label
    function.label = label
    return function


def build(spec: list[Node], sink: list[BaseException] | None = None) -> Built:
    """Build the definition of ``spec``; labels number its nodes depth first.

    :param spec: the spec (a list of nodes).
    :param sink: when given, every exception a ``raise`` task raises is
        appended to it just before it is raised.
    """
    counter = itertools.count()
    built = Built(definition=[])

    def make(node: Node) -> Any:
        kind = node[0]
        number = next(counter)
        if kind == "block":
            return [make(child) for child in node[1]]
        if kind == "if_else":
            label = f"if{number}"
            built.kinds[label] = "cond"
            mask = node[1]

            def if_cond(obj: Any, eng: Any) -> bool:
                count = _visit(payload_of(obj), label)
                answer = bool((mask >> (count % 4)) & 1)
                _record(eng, label, obj, answer)
                return answer

            return IF_ELSE(_name(if_cond, label), make(node[2]), make(node[3]))
        if kind == "while":
            label = f"while{number}"
            built.kinds[label] = "cond"
            rounds = node[1]

            def while_cond(obj: Any, eng: Any) -> bool:
                answer = _visit(payload_of(obj), label) < rounds
                _record(eng, label, obj, answer)
                return answer

            return WHILE(_name(while_cond, label), [make(n) for n in node[2]])
        if kind == "for":
            label = f"for{number}"
            built.kinds[label] = "setter"
            size, cache_data, order = node[1], node[2], node[3]

            def values(obj: Any, eng: Any) -> list[int]:
                return list(range(size))

            def setter(obj: Any, eng: Any, step: Any, value: Any) -> None:
                _record(eng, label, obj, value)

            return FOR(
                values,
                _name(setter, label),
                [make(n) for n in node[4]],
                cache_data=cache_data,
                order=order,
            )
        label = f"{kind}{number}"
        built.kinds[label] = kind
        task = _name(_make_leaf(node, label, sink), label)
        built.tasks[label] = task
        return task

    built.definition = [make(node) for node in spec]
    return built


def new_engine(
    spec: list[Node],
    engine_class: type[GenericWorkflowEngine] = GenericWorkflowEngine,
    sink: list[BaseException] | None = None,
) -> GenericWorkflowEngine:
    """Return an engine of ``engine_class`` holding the definition of ``spec``."""
    eng = engine_class()
    eng.callbacks.replace(build(spec, sink).definition)
    return eng


def count_recording_calls(spec: list[Node]) -> int:
    """Return how many recorded steps one pass through ``spec`` takes at most.

    Meant for loop-free specs (no WHILE/FOR, no backward jumps): each leaf
    and each IF_ELSE condition runs at most once per object.
    """
    total = 0
    for node in spec:
        kind = node[0]
        if kind == "block":
            total += count_recording_calls(node[1])
        elif kind == "if_else":
            total += 1 + count_recording_calls([node[2], node[3]])
        elif kind in ("while", "for"):
            raise ValueError(f"count_recording_calls() needs a loop-free spec: {node}")
        else:
            total += 1
    return total


def objects(max_size: int = MAX_OBJECTS) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Lists of ``0..max_size`` objects ``{"id": 0}``, ``{"id": 1}``, ...

    Empty lists are drawn rarely: they run no task at all.
    """
    sizes = st.one_of(st.integers(1, max_size), st.just(0))
    return sizes.map(lambda n: [{"id": i} for i in range(n)])


def _limits() -> st.SearchStrategy[int]:
    return st.integers(1, 2)


def _leaves(
    loops: bool, halts: bool, raises: bool, changes: bool
) -> st.SearchStrategy[Node]:
    call_offsets = st.integers(-3, 3) if loops else st.integers(1, 3)
    token_offsets = st.integers(-2, 2) if loops else st.integers(1, 2)
    task = st.just(("task",))
    # Plain tasks come first (Hypothesis shrinks towards the first choice)
    # and several times, so that control tasks stay a minority.
    choices = [task, task, task]
    if halts:
        choices.append(st.tuples(st.just("halt"), _limits()))
    if raises:
        choices.append(
            st.tuples(
                st.just("raise"),
                st.just(1),
                st.sampled_from(["ValueError", "WorkflowError"]),
            )
        )
    if changes:
        choices += [
            st.tuples(st.just("append"), _limits()),
            st.sampled_from([("next", "first"), ("current", "next")]).map(
                lambda words: ("restart", 1, *words)
            ),
        ]
    choices += [
        st.tuples(st.just("jump_call"), call_offsets, _limits()),
        st.tuples(st.just("jump_token"), token_offsets, _limits()),
        st.tuples(st.sampled_from(["break", "continue", "skip", "stop"]), _limits()),
    ]
    return st.one_of(*choices)


@functools.cache
def nodes(
    depth: int = 1,
    *,
    loops: bool = True,
    halts: bool = True,
    raises: bool = True,
    changes: bool = False,
    max_depth: int = MAX_DEPTH,
) -> st.SearchStrategy[Node]:
    """Spec nodes sitting at nesting ``depth`` (1 is the top level).

    :param loops: allow WHILE, FOR and backward jumps; without them every
        task runs at most once per object.
    :param halts: allow ``halt`` tasks.
    :param raises: allow ``raise`` tasks.
    :param changes: allow tasks that change the running definition
        (``append``) or restart their own engine (``restart``).
    :param max_depth: no block is generated below this depth.
    """
    leaves = _leaves(loops, halts, raises, changes)
    if depth >= max_depth:
        return leaves
    inner = nodes(
        depth + 1,
        loops=loops,
        halts=halts,
        raises=raises,
        changes=changes,
        max_depth=max_depth,
    )
    children = st.lists(inner, max_size=MAX_WIDTH)
    compound = [
        st.tuples(st.just("block"), children),
        st.tuples(st.just("if_else"), st.integers(0, 15), inner, inner),
    ]
    if loops:
        body = st.lists(inner, min_size=1, max_size=MAX_WIDTH)
        compound += [
            st.tuples(st.just("while"), st.integers(0, 3), body),
            st.tuples(
                st.just("for"),
                st.integers(0, 3),
                st.booleans(),
                st.sampled_from(["ASC", "DSC"]),
                body,
            ),
        ]
    # Leaves as likely as all compound kinds together keeps the expected
    # size of a tree bounded down to the deepest level.
    return st.one_of(leaves, leaves, leaves, leaves, *compound)


def _has_task(spec: list[Node]) -> bool:
    """Whether ``spec`` holds a task (an all-empty definition cannot run)."""
    return any(node[0] != "block" or _has_task(node[1]) for node in spec)


def _runnable(spec: list[Node]) -> list[Node]:
    """``spec``, with a plain task added when it has none."""
    return spec if _has_task(spec) else [*spec, ("task",)]


def definitions(
    *,
    loops: bool = True,
    halts: bool = True,
    raises: bool = True,
    changes: bool = False,
    max_depth: int = MAX_DEPTH,
) -> st.SearchStrategy[list[Node]]:
    """Specs of runnable definitions (at least one task); see :func:`nodes`."""
    top = nodes(
        1,
        loops=loops,
        halts=halts,
        raises=raises,
        changes=changes,
        max_depth=max_depth,
    )
    # Mapped, not filtered: a filter would retry draws (and print the
    # strategy's very long repr in the statistics).
    return st.lists(top, min_size=1, max_size=MAX_WIDTH + 1).map(_runnable)


def definitions_with_halt(**kwargs: Any) -> st.SearchStrategy[list[Node]]:
    """Specs as :func:`definitions` makes them, with a ``halt`` task added at the
    top level, so that most runs halt at least once.

    The halt goes first half of the time (a later place is often never
    reached: a control task before it may end the object first).
    """

    def insert_halt(spec: list[Node]) -> st.SearchStrategy[list[Node]]:
        return st.one_of(st.just(0), st.integers(0, len(spec))).map(
            lambda index: [*spec[:index], ("halt", 1), *spec[index:]]
        )

    return definitions(**kwargs).flatmap(insert_halt)
