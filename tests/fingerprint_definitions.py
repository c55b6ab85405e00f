"""A fixed set of definitions whose storage fingerprints the tests pin.

The tasks live at module level, so their qualified names never change; the
pinned values then change only when the fingerprint's own format does.
"""

from __future__ import annotations

from typing import Any

from workflow.patterns.controlflow import (
    BREAK,
    CHOICE,
    CMP,
    FOR,
    HALT,
    IF,
    IF_ELSE,
    IF_NOT,
    OBJ_JUMP_BWD,
    OBJ_JUMP_FWD,
    OBJ_NEXT,
    PARALLEL_SPLIT,
    SIMPLE_MERGE,
    STOP,
    SYNCHRONIZE,
    TASK_JUMP_BWD,
    TASK_JUMP_FWD,
    TASK_JUMP_IF,
    WHILE,
)
from workflow.patterns.utils import ENG_GET, ENG_SET, OBJ_GET, OBJ_SET, RUN_WF, TRY


def first(obj: Any, eng: Any) -> None:
    """A task."""


def second(obj: Any, eng: Any) -> None:
    """Another task."""


def check(obj: Any, eng: Any) -> bool:
    """A condition."""
    return True


def values(obj: Any, eng: Any) -> list[int]:
    """A FOR source."""
    return [1, 2]


def setter(obj: Any, eng: Any, step: Any, value: Any) -> None:
    """A FOR setter."""


def definitions() -> dict[str, list[Any]]:
    """The definitions, by name (built anew at each call)."""
    return {
        "plain": [first, second],
        "nested": [first, [second, [first]]],
        "if": [IF(check, [first]), second],
        "if_not": [IF_NOT(check, first)],
        "if_else": [IF_ELSE(check, [first], [second])],
        "while": [WHILE(check, [first, BREAK()])],
        "for_key": [FOR([1, 2], "i", [first])],
        "for_setter": [FOR(values, setter, first, cache_data=True, order="DSC")],
        "choice": [CHOICE(check, (True, first), (False, [second]))],
        "simple_merge": [SIMPLE_MERGE([first], second, first)],
        "jumps": [TASK_JUMP_IF(check, 2), TASK_JUMP_FWD(2), TASK_JUMP_BWD(-1)],
        "objects": [OBJ_NEXT(), OBJ_JUMP_FWD(1), OBJ_JUMP_BWD(-1), HALT(), STOP()],
        "cmp": [IF(CMP(check, 3, "<"), [first])],
        "threads": [PARALLEL_SPLIT(first, [second]), SYNCHRONIZE(first, second)],
        "utils": [
            ENG_GET("k"),
            ENG_SET("k", 1),
            OBJ_GET("k"),
            OBJ_SET("k", 2),
            TRY(first, retry=2),
            RUN_WF([first]),
        ],
    }
