"""Ready-made patterns for workflow definitions.

The control-flow patterns (conditions, loops, jumps, threads) live in
``workflow.patterns.controlflow``, the utility tasks in
``workflow.patterns.utils``; the most used names of both are importable from
here::

    from workflow.patterns import IF_ELSE, WHILE, TRY
"""

from .controlflow import (
    BREAK,
    CHOICE,
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
from .utils import (
    CALLFUNC,
    DEBUG_CYCLE,
    EMPTY_CALL,
    ENG_GET,
    ENG_SET,
    ERROR,
    OBJ_GET,
    OBJ_SET,
    PROFILE,
    RUN_WF,
    TRY,
)

__all__ = (
    "BREAK",
    "CALLFUNC",
    "CHOICE",
    "DEBUG_CYCLE",
    "EMPTY_CALL",
    "ENG_GET",
    "ENG_SET",
    "ERROR",
    "IF",
    "IF_ELSE",
    "IF_NOT",
    "OBJ_GET",
    "OBJ_JUMP_BWD",
    "OBJ_JUMP_FWD",
    "OBJ_NEXT",
    "OBJ_SET",
    "PARALLEL_SPLIT",
    "PROFILE",
    "RUN_WF",
    "SIMPLE_MERGE",
    "STOP",
    "SYNCHRONIZE",
    "TASK_JUMP_BWD",
    "TASK_JUMP_FWD",
    "TASK_JUMP_IF",
    "TRY",
    "WHILE",
)
