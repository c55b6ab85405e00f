"""Every task the pattern factories return is a plain function (SPEC 10, 11).

2.x applications describe a workflow's steps by introspecting its tasks
(``__name__``, ``__doc__``, ``__closure__`` with ``__code__.co_freevars``);
the factories are found by walking the modules, so a new one is checked too.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from workflow._pattern import Pattern
from workflow.patterns import controlflow, utils


def first(obj: Any, eng: Any) -> None:
    """A user's task."""


def second(obj: Any, eng: Any) -> None:
    """Another user's task."""


def condition(obj: Any, eng: Any) -> bool:
    """A user's condition."""
    return True


# Arguments to build each factory with: every factory the walk finds needs
# an entry (the test below fails for one without).
ARGUMENTS: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "BREAK": ((), {}),
    "CHOICE": ((condition, ("a", first), ("b", [second])), {"c": first}),
    "CMP": ((condition, 3, "<"), {}),
    "FOR": (([1, 2], "value", [first, second]), {"order": "DSC"}),
    "HALT": ((), {}),
    "IF": ((condition, [first]), {}),
    "IF_ELSE": ((condition, [first], second), {}),
    "IF_NOT": ((condition, first), {}),
    "OBJ_JUMP_BWD": ((-1,), {}),
    "OBJ_JUMP_FWD": ((2,), {}),
    "OBJ_NEXT": ((), {}),
    "PARALLEL_SPLIT": ((first, [second]), {}),
    "SIMPLE_MERGE": (([first], second, first), {}),
    "STOP": ((), {}),
    "SYNCHRONIZE": ((first, [second], first), {}),
    "TASK_JUMP_BWD": ((-2,), {}),
    "TASK_JUMP_FWD": ((2,), {}),
    "TASK_JUMP_IF": ((condition, 2), {}),
    "WHILE": ((condition, [first, second]), {}),
    "CALLFUNC": (("os.path.join",), {"args": ["a"]}),
    "DEBUG_CYCLE": (("pass",), {}),
    "ENG_GET": (("key",), {}),
    "ENG_SET": (("key", 1), {}),
    "ERROR": (("message",), {}),
    "OBJ_GET": ((["a", "b"],), {"cond": "any"}),
    "OBJ_SET": (("key", 1), {}),
    "PROFILE": (([first],), {}),
    "RUN_WF": (([first],), {}),
    "TRY": ((first,), {"retry": 2}),
}


def _factories() -> list[tuple[str, Any]]:
    found = []
    for module in (controlflow, utils):
        for name in module.__all__:
            value = getattr(module, name)
            # The factories: the functions that with_nice_docs wrapped.
            if (
                inspect.isfunction(value)
                and hasattr(value, "__wrapped__")
                and name != "with_nice_docs"
            ):
                found.append((name, value))
    return found


FACTORIES = _factories()


def _tasks(result: Any) -> list[Any]:
    """Every task of ``result`` (a task or a block) at any depth."""
    found = []
    pending = [result]
    seen: set[int] = set()
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, (list, tuple)):
            pending.extend(item)
        else:
            found.append(item)
    return found


def test_the_walk_finds_every_factory_and_each_has_arguments():
    assert sorted(name for name, _ in FACTORIES) == sorted(ARGUMENTS)


@pytest.mark.parametrize(("name", "factory"), FACTORIES, ids=[n for n, _ in FACTORIES])
def test_every_task_a_factory_returns_is_a_plain_function(name, factory):
    args, kwargs = ARGUMENTS[name]
    for task in _tasks(factory(*args, **kwargs)):
        assert inspect.isfunction(task), task
        freevars = task.__code__.co_freevars
        if freevars:
            assert len(task.__closure__) == len(freevars), task
        else:
            assert task.__closure__ is None, task
        assert isinstance(task.__name__, str)
        assert task.__doc__ is None or isinstance(task.__doc__, str)


USER_TASKS = (first, second, condition)


@pytest.mark.parametrize(("name", "factory"), FACTORIES, ids=[n for n, _ in FACTORIES])
def test_each_task_a_factory_makes_carries_a_description(name, factory):
    args, kwargs = ARGUMENTS[name]
    own = [task for task in _tasks(factory(*args, **kwargs)) if task not in USER_TASKS]
    patterns = [getattr(task, Pattern.ATTRIBUTE) for task in own]
    assert [pattern.task for pattern in patterns] == own
    assert name in {pattern.name for pattern in patterns}


@pytest.mark.parametrize(("name", "factory"), FACTORIES, ids=[n for n, _ in FACTORIES])
def test_the_first_task_a_factory_makes_is_named_and_documented(name, factory):
    args, kwargs = ARGUMENTS[name]
    result = factory(*args, **kwargs)
    items = result if isinstance(result, list) else [result]
    head = next(item for item in items if callable(item) and item not in USER_TASKS)
    assert head.workflow_pattern.name == name
    assert head.__name__ == ("condition" if name == "CHOICE" else name)
    assert head.__doc__.startswith(f"{name}: args(")
    assert first.__doc__ == "A user's task."
