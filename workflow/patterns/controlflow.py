"""Control-flow patterns: conditions, loops, jumps, choices and threads.

Each factory here returns one task or a list of tasks (a nested block) to
put in a definition. Every task is a plain function, as in 2.x, carrying a
description of itself (:class:`workflow._pattern.Pattern`, at the
``workflow_pattern`` attribute) that the engine, the diagrams and the
storage fingerprint read. Called as an ordinary task, a condition, jump or
loop head raises the engine's usual control-flow exceptions; the engine
reads its description instead when it may, which spares an exception per
step.

Every factory accepts an optional ``comment=`` keyword that becomes the
docstring of the task it returns (or of the block's first task it made).
Misuse is refused when the definition is built: ``TypeError`` for an
argument of the wrong kind, ``ValueError`` for a wrong value.
"""

from __future__ import annotations

import collections.abc
import functools
import operator
import threading
import time
from typing import Any, Callable

from .._pattern import BREAK_LEVEL, Pattern
from ..engine import Callbacks
from .utils import (
    _block_runner,
    _check_task,
    _check_task_or_block,
    _describe,
    _new_engine,
    with_nice_docs,
)

__all__ = (
    "BREAK",
    "CHOICE",
    "CMP",
    "FOR",
    "HALT",
    "IF",
    "IF_ELSE",
    "IF_NOT",
    "MAX_TIMEOUT",
    "OBJ_JUMP_BWD",
    "OBJ_JUMP_FWD",
    "OBJ_NEXT",
    "PARALLEL_SPLIT",
    "SIMPLE_MERGE",
    "STOP",
    "SYNCHRONIZE",
    "TASK_JUMP_BWD",
    "TASK_JUMP_FWD",
    "TASK_JUMP_IF",
    "WHILE",
)

Task = Callable[[Any, Any], Any]
"""A task: any callable taking ``(obj, eng)``."""

MAX_TIMEOUT = 30000
"""Default ``SYNCHRONIZE`` timeout, in seconds."""


def _check_int(factory: str, argument: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{factory}: {argument} must be an int; got {_describe(value)}")


def _branch(factory: str, argument: str, value: Any) -> Any:
    """``value`` checked as a branch; a tuple becomes a list.

    ``Callbacks.cleanup_callables`` flattens tuples into their parent block,
    which would move the tasks after them away from the jump offsets the
    patterns compute. A list stays one item of the block.
    """
    if value is None:
        raise TypeError(
            f"{factory}: {argument} is None; it must be a task (a callable"
            " taking (obj, eng)) or a list of tasks (use [] for no task)"
        )
    _check_task_or_block(factory, argument, value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _loop_body(factory: str, branch: Any) -> tuple[Any, ...]:
    """The loop body as a flat tuple, as WHILE and FOR lay it out."""
    if branch is None:
        raise TypeError(
            f"{factory}: branch is None; it must be a task (a callable taking"
            " (obj, eng)) or a list of tasks"
        )
    _check_task_or_block(factory, "branch", branch)
    items = branch if isinstance(branch, (list, tuple)) else [branch]
    return tuple(Callbacks.cleanup_callables(items))


# --------------------------------------------------------------------------
# Jumps and interrupts


@with_nice_docs
def TASK_JUMP_BWD(step: int = -1) -> Task:
    """Return a task jumping ``step`` tasks in its block (backwards: ``-1``).

    ``step`` has the meaning of ``eng.jump_call(step)``: ``-1`` runs the
    previous task next. Example::

        [count, TASK_JUMP_IF(lambda o, e: o["n"] >= 3, 2), TASK_JUMP_BWD(-2)]
    """
    _check_int("TASK_JUMP_BWD", "step", step)

    def _jump_bwd(obj: Any, eng: Any) -> None:
        eng.jump_call(step)

    pattern = Pattern(
        "TASK_JUMP_BWD",
        control=True,
        when_true=step,
        shape=(step,),
        params={"step": step},
    )
    return pattern.attach(_jump_bwd)


@with_nice_docs
def TASK_JUMP_FWD(step: int = 1) -> Task:
    """Return a task jumping ``step`` tasks forward in its block.

    ``step`` has the meaning of ``eng.jump_call(step)``: ``1`` is the next
    task, ``2`` skips one. Example::

        [TASK_JUMP_FWD(2), never_run, run]
    """
    _check_int("TASK_JUMP_FWD", "step", step)

    def _jump_fwd(obj: Any, eng: Any) -> None:
        eng.jump_call(step)

    pattern = Pattern(
        "TASK_JUMP_FWD",
        control=True,
        when_true=step,
        shape=(step,),
        params={"step": step},
    )
    return pattern.attach(_jump_fwd)


@with_nice_docs
def TASK_JUMP_IF(cond: Task, step: int) -> Task:
    """Return a task jumping ``step`` tasks when ``cond(obj, eng)`` is true.

    Otherwise the next task runs. Example::

        [TASK_JUMP_IF(is_draft, 2), publish, archive]
    """
    _check_task("TASK_JUMP_IF", "cond", cond)
    _check_int("TASK_JUMP_IF", "step", step)

    def _jump_if(obj: Any, eng: Any) -> None:
        if cond(obj, eng):
            eng.jump_call(step)

    pattern = Pattern(
        "TASK_JUMP_IF",
        control=True,
        cond=cond,
        when_true=step,
        when_false=None,
        tasks=(cond,),
        shape=(step,),
        params={"cond": cond, "step": step},
    )
    return pattern.attach(_jump_if)


@with_nice_docs
def BREAK() -> Task:
    """Return a task leaving the block it is in; the enclosing block goes on.

    Example::

        [first, [check, BREAK(), never_run], after]

    It leaves the innermost list it sits in: inside an ``IF`` branch that is
    the branch, not a loop around the ``IF``.
    """

    def _break(obj: Any, eng: Any) -> None:
        eng.break_current_loop()

    return Pattern("BREAK", control=True, when_true=BREAK_LEVEL).attach(_break)


@with_nice_docs
def STOP() -> Task:
    """Return a task stopping the engine: no further task or object runs.

    Example::

        IF(is_last_needed, [STOP()])
    """

    def _stop(obj: Any, eng: Any) -> None:
        eng.stop()

    return Pattern("STOP").attach(_stop)


@with_nice_docs
def HALT() -> Task:
    """Return a task halting the engine (the caller gets ``HaltProcessing``).

    The engine keeps its state, so it can be resumed with ``restart``.
    Example::

        IF(needs_review, [HALT()])
    """

    def _halt(obj: Any, eng: Any) -> None:
        eng.halt()

    return Pattern("HALT").attach(_halt)


@with_nice_docs
def OBJ_NEXT() -> Task:
    """Return a task ending the current object; the next object goes on.

    Example::

        IF(is_duplicate, [OBJ_NEXT()])
    """

    def _obj_next(obj: Any, eng: Any) -> None:
        eng.continue_next_token()

    return Pattern("OBJ_NEXT").attach(_obj_next)


@with_nice_docs
def OBJ_JUMP_FWD(step: int = 1) -> Task:
    """Return a task jumping ``step`` objects forward (``eng.jump_token``).

    ``1`` is the next object, ``2`` skips one, ``0`` runs this object again
    from its first task. A negative ``step`` is refused. Example::

        IF(is_batch_header, [OBJ_JUMP_FWD(2)])
    """
    _check_int("OBJ_JUMP_FWD", "step", step)
    if step < 0:
        raise ValueError(
            f"OBJ_JUMP_FWD: step must not be negative; got {step}"
            " (use OBJ_JUMP_BWD to go back)"
        )

    def _obj_jump_fwd(obj: Any, eng: Any) -> None:
        eng.jump_token(step)

    pattern = Pattern("OBJ_JUMP_FWD", shape=(step,), params={"step": step})
    return pattern.attach(_obj_jump_fwd)


@with_nice_docs
def OBJ_JUMP_BWD(step: int = -1) -> Task:
    """Return a task jumping ``-step`` objects back (``eng.jump_token``).

    ``-1`` goes back to the previous object, ``0`` runs this object again
    from its first task. A positive ``step`` is refused. Example::

        IF(needs_previous_again, [OBJ_JUMP_BWD(-1)])
    """
    _check_int("OBJ_JUMP_BWD", "step", step)
    if step > 0:
        raise ValueError(
            f"OBJ_JUMP_BWD: step must not be positive; got {step}"
            " (use OBJ_JUMP_FWD to go forward)"
        )

    def _obj_jump_bwd(obj: Any, eng: Any) -> None:
        eng.jump_token(step)

    pattern = Pattern("OBJ_JUMP_BWD", shape=(step,), params={"step": step})
    return pattern.attach(_obj_jump_bwd)


# --------------------------------------------------------------------------
# Conditions and loops


@with_nice_docs
def IF(cond: Task, branch: Any) -> list[Any]:
    """Return ``[test, branch]``: ``branch`` runs when ``cond(obj, eng)`` is true.

    ``branch`` is a task or a list of tasks (a tuple is turned into a list,
    so that it stays one item of the block). Example::

        IF(lambda obj, eng: obj > 10, [log_big, shrink])
    """
    _check_task("IF", "cond", cond)
    branch = _branch("IF", "branch", branch)

    def _if(obj: Any, eng: Any) -> None:
        if not cond(obj, eng):
            eng.break_current_loop()

    pattern = Pattern(
        "IF",
        control=True,
        cond=cond,
        when_true=None,
        when_false=BREAK_LEVEL,
        tasks=(cond,),
        params={"cond": cond},
    )
    return [pattern.attach(_if), branch]


@with_nice_docs
def IF_NOT(cond: Task, branch: Any) -> list[Any]:
    """Return ``[test, branch]``: ``branch`` runs when ``cond(obj, eng)`` is false.

    Example::

        IF_NOT(has_title, [ERROR("no title")])
    """
    _check_task("IF_NOT", "cond", cond)
    branch = _branch("IF_NOT", "branch", branch)

    def _if_not(obj: Any, eng: Any) -> None:
        if cond(obj, eng):
            eng.break_current_loop()

    pattern = Pattern(
        "IF_NOT",
        control=True,
        cond=cond,
        when_true=BREAK_LEVEL,
        when_false=None,
        tasks=(cond,),
        params={"cond": cond},
    )
    return [pattern.attach(_if_not), branch]


@with_nice_docs
def IF_ELSE(cond: Task, branch1: Any, branch2: Any) -> list[Any]:
    """Return ``[test, branch1, BREAK(), branch2]``: one of the two branches runs.

    ``branch1`` runs when ``cond(obj, eng)`` is true, ``branch2`` otherwise.
    Each branch is kept as given (a list stays that very list, a task stays
    a task), except that a tuple becomes a list so that it stays one item
    of the block. Example::

        IF_ELSE(is_article, [index_article], [index_other])
    """
    _check_task("IF_ELSE", "cond", cond)
    branch1 = _branch("IF_ELSE", "branch1", branch1)
    branch2 = _branch("IF_ELSE", "branch2", branch2)

    def _if_else(obj: Any, eng: Any) -> None:
        if not cond(obj, eng):
            eng.jump_call(3)

    pattern = Pattern(
        "IF_ELSE",
        control=True,
        cond=cond,
        when_true=None,
        when_false=3,
        tasks=(cond,),
        params={"cond": cond},
    )
    return [pattern.attach(_if_else), branch1, BREAK(), branch2]


@with_nice_docs
def WHILE(cond: Task, branch: Any) -> list[Any]:
    """Return a loop running ``branch`` while ``cond(obj, eng)`` is true.

    The block is ``[test, branch_tuple, TASK_JUMP_BWD(-(len(branch_tuple) + 1))]``
    where ``branch_tuple`` is the branch cleaned with
    ``Callbacks.cleanup_callables`` (a single task becomes a 1-tuple); the
    tuple is flattened into the block when the definition is stored.
    Example::

        WHILE(lambda obj, eng: obj["n"] < 3, [increment])
    """
    _check_task("WHILE", "cond", cond)
    body = _loop_body("WHILE", branch)

    def _while(obj: Any, eng: Any) -> None:
        if not cond(obj, eng):
            eng.break_current_loop()

    pattern = Pattern(
        "WHILE",
        control=True,
        cond=cond,
        when_true=None,
        when_false=BREAK_LEVEL,
        tasks=(cond,),
        params={"cond": cond},
    )
    return [pattern.attach(_while), body, TASK_JUMP_BWD(-(len(body) + 1))]


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "==": operator.eq,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "in": operator.contains,
}


@with_nice_docs
def CMP(a: Any, b: Any, op: str) -> Task:
    """Return a condition comparing ``a`` and ``b`` with the operator ``op``.

    :param a: a value, or a callable ``(obj, eng)`` returning one (called
        again for as long as the result is callable).
    :param b: likewise.
    :param op: ``eq gt gte lt lte == > >= < <=``, or ``in`` (true when ``b``
        is in ``a``).

    The task has ``hide = True`` and the name ``CMP``. Example::

        IF(CMP(lambda obj, eng: obj["year"], 2000, "<"), [mark_old])
    """
    if not isinstance(op, str):
        raise TypeError(
            f"CMP: op must be a string, one of {', '.join(_OPERATORS)};"
            f" got {_describe(op)}"
        )
    if op not in _OPERATORS:
        raise ValueError(f"CMP: op must be one of {', '.join(_OPERATORS)}; got {op!r}")
    compare = _OPERATORS[op]

    def _cmp(obj: Any, eng: Any) -> Any:
        left = a
        while callable(left):
            left = left(obj, eng)
        right = b
        while callable(right):
            right = right(obj, eng)
        return compare(left, right)

    pattern = Pattern(
        "CMP",
        tasks=tuple(side for side in (a, b) if callable(side)),
        shape=(op,),
        params={"a": a, "b": b, "op": op},
    )
    pattern.attach(_cmp)
    _cmp.hide = True  # type: ignore[attr-defined]
    return _cmp


def _for_round(
    obj: Any,
    eng: Any,
    ascending: bool,
    cache_data: bool,
    set_value: Callable[[Any, Any, str, Any], Any],
    values_of: Callable[[Any, Any], Any],
) -> Any:
    """One round of a FOR loop: set the next value, or end the loop.

    Returns ``None`` (run the branch) or :data:`BREAK_LEVEL` (the values are
    exhausted: the setter got the last value again and the state is gone).
    """
    step = str(eng.state.callback_pos)
    iterators = eng.extra_data.setdefault("_Iterators", {})
    loop = iterators.get(step)
    # Only the loop's own jump back goes on with a pass: any other way here
    # (the first entry, or after the pass was left early) starts from the
    # first value.
    if loop is not None and not loop.pop("next", False):
        loop = None
    if loop is None:
        values = values_of(obj, eng)
        loop = iterators[step] = {"value": 0 if ascending else len(values) - 1}
        if cache_data:
            loop["_cache"] = values
    elif cache_data:
        values = loop["_cache"]
    else:
        values = values_of(obj, eng)
    index = loop["value"]
    if 0 <= index < len(values):
        value = values[index]
        loop["value"] = index + 1 if ascending else index - 1
        loop["previous_data"] = value
        set_value(obj, eng, step, value)
        return None
    if "previous_data" in loop:
        set_value(obj, eng, step, loop["previous_data"])
    del iterators[step]
    return BREAK_LEVEL


@with_nice_docs
def FOR(
    get_list_function: Any,
    setter: Any,
    branch: Any,
    cache_data: bool = False,
    order: str = "ASC",
) -> list[Any]:
    """Return a loop running ``branch`` once per value of a list.

    :param get_list_function: the values: an iterable, or a callable
        ``(obj, eng)`` returning one, called again at each round unless
        ``cache_data``.
    :param setter: where each value goes: a string key of
        ``eng.extra_data``, or a callable ``(obj, eng, step, value)`` where
        ``step`` is the loop's key (below).
    :param branch: a task or a list of tasks, run once per value.
    :param cache_data: compute the values once per loop instead of at each
        round.
    :param order: ``"ASC"`` (first to last) or ``"DSC"`` (last to first).

    The block is ``[for_task, branch_tuple, TASK_JUMP_BWD(-(len(branch_tuple) + 1))]``.
    After the last round the setter is called once more with the last value
    (so it stays readable after the loop) and the block is left; an empty
    list runs no round and calls no setter.

    The loop's state lives in ``eng.extra_data["_Iterators"][step]``, where
    ``step`` is ``str(callback_pos)`` of the for task: nested and sequential
    loops do not collide. It belongs to one pass of one object through the
    loop: a halt (or error) in the branch resumed with
    ``restart('current', ...)`` goes on with the same value, and a pass left
    early in any other way (a ``BREAK``, a jump out, a stop, the next
    object...) is forgotten, so the next entry starts from the first value.
    Example::

        FOR(range(3), "i", [lambda obj, eng: obj.append(eng.extra_data["i"])])
    """
    if order not in ("ASC", "DSC"):
        raise ValueError(f"FOR: order must be 'ASC' or 'DSC'; got {order!r}")
    if callable(get_list_function):
        source: Any = get_list_function
        source_is_callable = True
    elif isinstance(get_list_function, collections.abc.Iterable):
        source = get_list_function
        if not isinstance(source, collections.abc.Sequence):
            # Read a one-shot iterable once, so that every run of the loop
            # (every object) sees the same values.
            source = list(source)
        source_is_callable = False
    else:
        raise TypeError(
            "FOR: get_list_function must be an iterable or a callable taking"
            f" (obj, eng) that returns one; got {_describe(get_list_function)}"
        )
    key: str | None = None
    if isinstance(setter, str):
        key = setter

        def set_value(obj: Any, eng: Any, step: str, value: Any) -> None:
            eng.extra_data[key] = value

    elif callable(setter):
        set_value = setter
    else:
        raise TypeError(
            "FOR: setter must be a string key of eng.extra_data or a callable"
            f" taking (obj, eng, step, value); got {_describe(setter)}"
        )
    body = _loop_body("FOR", branch)
    ascending = order == "ASC"
    back = -(len(body) + 1)

    def values_of(obj: Any, eng: Any) -> Any:
        if not source_is_callable:
            return source
        values = source(obj, eng)
        if isinstance(values, collections.abc.Sequence):
            return values
        if isinstance(values, collections.abc.Iterable):
            return list(values)
        raise TypeError(
            f"FOR: get_list_function {getattr(source, '__name__', source)!r}"
            f" returned {_describe(values)}, which is not iterable"
        )

    def next_round(obj: Any, eng: Any) -> Any:
        return _for_round(obj, eng, ascending, cache_data, set_value, values_of)

    # The closure holds the names 2.x applications (and the 2.2.0
    # fingerprint) read: the loop's order, caching, setter and values.
    def _for(obj: Any, eng: Any) -> None:
        step = _for_round(obj, eng, ascending, cache_data, set_value, values_of)
        if step is BREAK_LEVEL:
            eng.break_current_loop()

    def loop_back(obj: Any, eng: Any) -> int:
        # Tell the for task that its pass goes on (see _for_round).
        pos = eng.state.callback_pos
        head = str([*pos[:-1], pos[-1] + back])
        loop = eng.extra_data.get("_Iterators", {}).get(head)
        if loop is not None:
            loop["next"] = True
        return back

    def _jump_bwd(obj: Any, eng: Any) -> None:
        eng.jump_call(loop_back(obj, eng))

    params = {
        "source": source,
        "setter": setter,
        "key": key,
        "cache_data": cache_data,
        "order": order,
    }
    head = Pattern(
        "FOR",
        control=True,
        decide=next_round,
        tasks=tuple(item for item in (source, setter) if callable(item)),
        shape=(order, bool(cache_data)),
        params=params,
    )
    tail = Pattern(
        "TASK_JUMP_BWD",
        control=True,
        decide=loop_back,
        shape=(back,),
        params={"step": back, "loop": "FOR"},
        legacy=("TASK_JUMP_BWD.<locals>._jump_bwd", (back,)),
    )
    return [head.attach(_for), body, tail.attach(_jump_bwd)]


# --------------------------------------------------------------------------
# Choices and merges


def _choice_offset(
    obj: Any, eng: Any, arbiter: Task, name: str, offsets: dict[Any, int]
) -> int:
    """The jump from a CHOICE's first task to the branch ``arbiter`` picks."""
    value = arbiter(obj, eng)
    try:
        return offsets[value]
    except KeyError:
        raise KeyError(
            f"CHOICE: the arbiter {name} returned {value!r}, which has no"
            f" branch; the branches are for {list(offsets)!r}"
        ) from None


@with_nice_docs
def CHOICE(arbiter: Task, *predicates: Any, **kwpredicates: Any) -> list[Any]:
    """Return a block running the branch chosen by ``arbiter(obj, eng)``.

    :param arbiter: returns the value that selects a branch.
    :param predicates: ``(value, task_or_block, ...)`` tuples; the tasks or
        blocks after the value form that value's branch.
    :param kwpredicates: ``value=task_or_block`` for string values.

    The block is ``[choose, branch, BREAK(), branch, BREAK(), ...]``, each
    branch one item (a list). Each value (hashable) has one branch: a
    repeated value is refused. An arbiter value with no branch raises
    ``KeyError`` naming it. The choose task is named after the arbiter.
    Example::

        CHOICE(kind, ("book", index_book, [fetch_cover, resize]),
               article=index_article)
    """
    _check_task("CHOICE", "arbiter", arbiter)
    flow: list[Any] = []
    offsets: dict[Any, int] = {}

    def add(argument: str, value: Any, branch: Any) -> None:
        try:
            hash(value)
        except TypeError:
            raise TypeError(
                f"CHOICE: {argument} has the value {_describe(value)}, which"
                " cannot select a branch: values must be hashable (a string,"
                " a number, a tuple...)"
            ) from None
        if value in offsets:
            raise ValueError(
                f"CHOICE: {argument} repeats the value {value!r}, which already"
                " has a branch; give each value one branch"
            )
        offsets[value] = len(flow) + 1
        flow.append(branch)
        flow.append(BREAK())

    for number, predicate in enumerate(predicates):
        argument = f"predicate {number + 1} ({predicate!r:.60})"
        if not isinstance(predicate, (list, tuple)) or len(predicate) < 2:
            raise TypeError(
                f"CHOICE: {argument} must be a tuple (value, task_or_block, ...)"
            )
        for item in predicate[1:]:
            _check_task_or_block("CHOICE", argument, item)
        add(argument, predicate[0], list(predicate[1:]))
    for value, branch in kwpredicates.items():
        argument = f"keyword predicate {value}"
        add(argument, value, _branch("CHOICE", argument, branch))
    name = getattr(arbiter, "__name__", "CHOICE")

    def choose(obj: Any, eng: Any) -> int:
        return _choice_offset(obj, eng, arbiter, name, offsets)

    def _choose(obj: Any, eng: Any) -> None:
        eng.jump_call(_choice_offset(obj, eng, arbiter, name, offsets))

    pattern = Pattern(
        "CHOICE",
        control=True,
        decide=choose,
        tasks=(arbiter,),
        shape=tuple((repr(value), offset) for value, offset in offsets.items()),
        params={"arbiter": arbiter, "offsets": dict(offsets)},
    )
    pattern.attach(_choose)
    # Named after the arbiter, as in 2.x; the description keeps the factory.
    _choose.__name__ = name
    return [_choose, *flow]


@with_nice_docs
def SIMPLE_MERGE(*args: Any) -> list[Any]:
    """Return ``[b1, jump, b2, jump, ..., bn, jump, last]``.

    Each jump goes straight to ``last``: the first branch runs, then
    ``last``. The other branches are reached only by jumping into them.
    At least two arguments are needed. Example::

        SIMPLE_MERGE([fetch_from_cache], [fetch_from_server], store)
    """
    if len(args) < 2:
        raise ValueError(
            f"SIMPLE_MERGE: needs at least two arguments (branches, then the"
            f" last task); got {len(args)}"
        )
    items = [
        _branch("SIMPLE_MERGE", f"argument {number + 1}", arg)
        for number, arg in enumerate(args)
    ]
    last_index = 2 * (len(items) - 1)

    def jump_to_last(offset: int) -> Task:
        def _merge(obj: Any, eng: Any) -> None:
            eng.jump_call(offset)

        pattern = Pattern(
            "SIMPLE_MERGE",
            control=True,
            when_true=offset,
            shape=(offset,),
            params={"step": offset},
        )
        return pattern.attach(_merge)

    flow: list[Any] = []
    for branch in items[:-1]:
        flow.append(branch)
        flow.append(jump_to_last(last_index - len(flow)))
    flow.append(items[-1])
    return flow


# --------------------------------------------------------------------------
# Threads


def _check_branches(factory: str, branches: Any) -> None:
    for number, branch in enumerate(branches):
        if branch is None:
            raise TypeError(
                f"{factory}: branch {number + 1} is None; it must be a task"
                " or a list of tasks"
            )
        _check_task_or_block(factory, f"branch {number + 1}", branch)


def _run_split_branch(log: Any, sub: Any, obj: Any, number: int) -> None:
    try:
        sub.process([obj])
    except Exception:
        log.error("PARALLEL_SPLIT: branch %d failed", number, exc_info=True)


@with_nice_docs
def PARALLEL_SPLIT(*branches: Any) -> Task:
    """Return a task starting every branch in its own thread, without waiting.

    Each branch (a task or a block) runs over ``[obj]`` in a new engine of
    the calling engine's class, in a daemon thread; the calling engine goes
    on at once. A fresh ``threading.Lock`` is stored at
    ``extra_data['lock']`` of the calling engine and of every branch engine,
    for the branches to guard what they share. The branches share the
    object, not the engine state: jumps inside a branch stay in it, and a
    branch sees only its own engine. A failing branch is logged, with its
    traceback, on the calling engine's logger. Example::

        [prepare, PARALLEL_SPLIT(send_mail, [render, upload]), log_done]
    """
    if not branches:
        raise ValueError("PARALLEL_SPLIT: needs at least one branch; got none")
    _check_branches("PARALLEL_SPLIT", branches)

    def _parallel_split(obj: Any, eng: Any) -> None:
        lock = threading.Lock()
        eng.extra_data["lock"] = lock

        def share_lock(obj: Any, sub: Any) -> None:
            sub.extra_data["lock"] = lock

        engines = []
        for branch in branches:
            sub = _new_engine(eng, "PARALLEL_SPLIT")
            sub.callbacks.replace([share_lock, branch])
            engines.append(sub)
        for number, sub in enumerate(engines, start=1):
            threading.Thread(
                target=_run_split_branch,
                args=(eng.log, sub, obj, number),
                name=f"PARALLEL_SPLIT branch {number}",
                daemon=True,
            ).start()

    pattern = Pattern(
        "PARALLEL_SPLIT", tasks=tuple(branches), params={"branches": branches}
    )
    return pattern.attach(_parallel_split)


@with_nice_docs
def SYNCHRONIZE(*args: Any, timeout: float = MAX_TIMEOUT) -> Task:
    """Return a task running all ``args`` but the last at once, then the last.

    Every argument but the last runs in its own thread: a task is called as
    ``task(obj, eng)``, a block (list or tuple) runs over ``[obj]`` in a new
    engine of the calling engine's class. When all have finished, the last
    argument runs (a task, or a block in a new engine). The branches share
    the object: guard what they change together.

    :param timeout: seconds to wait for the branches, at most
        ``threading.TIMEOUT_MAX``; when they have not
        all finished by then, ``threading.ThreadError('NotFinished')`` is
        raised.

    An exception in a branch is raised in the calling thread once every
    branch has ended; when several fail, the first in argument order wins.
    Example::

        SYNCHRONIZE(fetch_authors, fetch_references, merge_results, timeout=60)
    """
    if len(args) < 2:
        raise ValueError(
            "SYNCHRONIZE: needs at least two arguments (the branches to run at"
            f" once, then the last task); got {len(args)}"
        )
    _check_branches("SYNCHRONIZE", args)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            "SYNCHRONIZE: timeout must be a number of seconds;"
            f" got {_describe(timeout)}"
        )
    # Waiting longer than threading.TIMEOUT_MAX (inf, say) is refused here:
    # Thread.join would raise OverflowError only once the task runs.
    if not 0 < timeout <= threading.TIMEOUT_MAX:
        raise ValueError(
            "SYNCHRONIZE: timeout must be a positive number of seconds, at most"
            f" threading.TIMEOUT_MAX ({threading.TIMEOUT_MAX:g}); got {timeout}"
        )
    branches, last = args[:-1], args[-1]

    def runner(item: Any, obj: Any, eng: Any) -> Callable[[], Any]:
        if isinstance(item, (list, tuple)):
            return _block_runner(eng, item, obj, "SYNCHRONIZE")
        return functools.partial(item, obj, eng)

    def _synchronize(obj: Any, eng: Any) -> None:
        # Build every engine first, so that a class that cannot be built
        # fails before any branch has run.
        runs = [runner(branch, obj, eng) for branch in branches]
        finish = runner(last, obj, eng)
        errors: list[BaseException | None] = [None] * len(runs)

        def run_branch(number: int) -> None:
            try:
                runs[number]()
            except BaseException as exc:
                errors[number] = exc

        threads = [
            threading.Thread(
                target=run_branch,
                args=(number,),
                name=f"SYNCHRONIZE branch {number + 1}",
                daemon=True,
            )
            for number in range(len(runs))
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                raise threading.ThreadError("NotFinished")
        for error in errors:
            if error is not None:
                raise error
        finish()

    pattern = Pattern(
        "SYNCHRONIZE",
        tasks=(*branches, last),
        params={"branches": branches, "last": last, "timeout": timeout},
    )
    return pattern.attach(_synchronize)
