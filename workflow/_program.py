"""Definitions compiled into flat programs, for the engine's lean task loop.

A definition is a nested list of tasks. Running it level by level costs a
Python call, and a few checks per task, for every block of every object.
The engine's lean loop (used when no per-task hook, ``execute_callback``
override or debug logging asks for the general one) runs a
:class:`Program` instead: the definition laid out once as a flat list of
*operations*, each either a *segment* (a run of ordinary tasks that sit side
by side in one block) or one control task of the patterns. Entering or
leaving a block costs nothing at run time; each operation knows the
``callback_pos`` of its block and each block knows where each of its items
starts, so jumps, breaks and restarts land where the nested run would.

A program holds a *snapshot* of its definition's structure. The engine
compares the definition with it when a run starts and whenever an object
gets another definition list, and compares the top level (a shallow copy)
between two objects of a run; a definition that changed is compiled again.
"""

from __future__ import annotations

from types import BuiltinMethodType, FunctionType, MethodType
from typing import Any, Callable

from .errors import WorkflowError


class _BreakLevel:
    """Marker a control task returns to leave the block it runs in."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "BREAK_LEVEL"


BREAK_LEVEL = _BreakLevel()


class _ControlTask:
    """A task that computes where the engine goes next instead of raising.

    ``decide(obj, eng)`` returns ``None`` (go on), an ``int`` (jump that many
    tasks, as :meth:`GenericWorkflowEngine.jump_call`) or :data:`BREAK_LEVEL`
    (leave the block, as :meth:`GenericWorkflowEngine.break_current_loop`).

    The engine's lean loop calls ``decide`` and moves itself, which saves an
    exception per step of the control-flow patterns. Called as an ordinary
    task (by a subclass's ``execute_callback``, or by user code), it raises
    the usual exceptions through the engine's methods. It carries the name,
    qualified name, module and docstring of its ``decide`` function, so it
    reads like the closure it wraps.
    """

    def __init__(
        self,
        decide: Callable[[Any, Any], Any],
        cond: Callable[[Any, Any], Any] | None = None,
        outcomes: tuple[Any, Any] | None = None,
    ) -> None:
        self.decide = decide
        self.cond = cond
        self.outcomes = outcomes
        self.__name__ = decide.__name__
        self.__qualname__ = decide.__qualname__
        self.__module__ = decide.__module__
        self.__doc__ = decide.__doc__
        self.__wrapped__ = decide

    def __call__(self, obj: Any, eng: Any) -> None:
        step = self.decide(obj, eng)
        if step is None:
            return
        if step is BREAK_LEVEL:
            eng.break_current_loop()
        eng.jump_call(step)

    def __repr__(self) -> str:
        return f"<function {self.__qualname__} at {id(self):#x}>"


def clamp_jump(index: int, size: int) -> int:
    """Keep the index a jump lands on within ``[0, size + 1]``.

    A task at ``index`` jumping ``step`` lands on ``index + step``: ``1`` is
    the next task and ``0`` the same one again. A jump before the first task
    starts the block again; one past the end ends it. Both of the engine's
    task loops follow this rule.
    """
    if index < 0:
        return 0
    if index > size + 1:
        return size + 1
    return index


class _Same:
    """Stands in a snapshot for an item whose ``==`` is not identity.

    A program must be rebuilt when an item of its definition is replaced,
    even by one that compares equal to it.
    """

    __slots__ = ("item",)

    def __init__(self, item: Any) -> None:
        self.item = item

    def __eq__(self, other: object) -> bool:
        return other is self.item

    __hash__ = None  # type: ignore[assignment]


# Items of these types compare equal only when they run the same code.
_IDENTITY_EQUAL = frozenset({FunctionType, _ControlTask, MethodType, BuiltinMethodType})


class Level:
    """One block of a compiled definition.

    :ivar depth: its nesting level (``0`` for the definition itself).
    :ivar size: how many items it has.
    :ivar items: its items, as compiled (for error messages).
    :ivar children: the :class:`Level` of each item that is a block,
        ``None`` for a task.
    :ivar entries: for each item index ``i`` (and ``size``, the block's end),
        the ``(operation, index)`` where running the block from item ``i``
        begins. ``index`` is ``-1`` when the operation starts at its own
        first task.
    """

    __slots__ = ("children", "depth", "entries", "items", "size")

    def __init__(self, depth: int, items: Any) -> None:
        self.depth = depth
        self.items = items
        self.size = len(items)
        self.children: list[Level | None] = [None] * self.size
        self.entries: list[tuple[int, int]] = []


# Kinds of operation (the first item of each operation tuple); see Program.
# The engine relies on the ordinary tasks having the two lowest numbers.
TASK = 0
"""One ordinary task."""
SEGMENT = 1
"""Several ordinary tasks side by side in one block."""
TEST = 2
"""A control task deciding by a condition."""
CONSTANT = 3
"""A control task that always decides the same."""
DECIDE = 4
"""Any other control task: its ``decide`` is called."""


class Program:
    """A definition laid out as a flat list of operations.

    Each operation is a tuple ``(kind, level, path, first, payload,
    when_true, when_false)``: ``level`` is the :class:`Level` it belongs to,
    ``path`` the ``callback_pos`` of its first task and ``first`` that
    task's index in the block. By ``kind``:

    - :data:`TASK`: ``payload`` is the task; ``when_true`` (and
      ``when_false``) is the ``(operation, index)`` to go on at;
    - :data:`SEGMENT`: ``payload`` is the list of tasks; as for a task;
    - :data:`TEST`: ``payload`` is the condition; ``when_true`` and
      ``when_false`` are the ``(operation, index)`` to go on at;
    - :data:`CONSTANT`: ``when_true`` is the ``(operation, index)`` to go on at;
    - :data:`DECIDE`: ``payload`` is the control task's ``decide``.

    An ``(operation, index)`` past the last operation ends the run, with
    ``callback_pos`` at ``[index - 1]``. Where an operation goes on at a
    constant jump, it goes on at that jump's target instead.

    :ivar snapshot: a copy of its structure, compared with the definition
        before each use.
    :ivar top: the :class:`Level` of the definition itself.
    :ivar head: the tasks of the first operation when it is a task or a
        segment, else ``None``.

    A program never changes once built, so engines may share it.
    """

    __slots__ = ("head", "ops", "snapshot", "top")

    def __init__(self, definition: Any) -> None:
        self.ops: list[tuple[Any, ...]] = []
        self.top, self.snapshot = self._lay_out(definition, 0, ())
        # The definition's own end is the end of the program; the index
        # there is where the top level stopped (its size after a plain run).
        self.top.entries[-1] = (len(self.ops), self.top.size)
        ops = self.ops
        for position, op in enumerate(ops):
            kind, level, path, first, payload, when_true, when_false = op
            if kind == SEGMENT and len(payload) == 1:
                kind, payload = TASK, payload[0]
            if kind <= SEGMENT:
                # Ordinary tasks go on with the next operation.
                when_true = when_false = (position + 1, -1)
            elif kind != DECIDE:
                when_true = self._target(position, level, first, when_true)
                when_false = self._target(position, level, first, when_false)
            ops[position] = (kind, level, path, first, payload, when_true, when_false)
        for position, op in enumerate(ops):
            if op[0] != DECIDE:
                ops[position] = (*op[:5], self._through(op[5]), self._through(op[6]))
        self.head: list[Any] | None = None
        if ops and ops[0][0] == TASK:
            self.head = [ops[0][4]]
        elif ops and ops[0][0] == SEGMENT:
            self.head = ops[0][4]

    def _through(self, target: tuple[int, int]) -> tuple[int, int]:
        """``target``, or where the constant jumps it leads to go on at last.

        A constant jump reads and writes nothing, so going straight to its
        own target is the same; a loop of constant jumps is left as it is.
        """
        seen = set()
        ops = self.ops
        while target[0] < len(ops) and ops[target[0]][0] == CONSTANT:
            if target[0] in seen:
                break
            seen.add(target[0])
            target = ops[target[0]][5]
        return target

    def _target(
        self, position: int, level: Level, index: int, step: Any
    ) -> tuple[int, int]:
        """Where the control operation at ``position`` goes on after ``step``."""
        if step is None:
            return position + 1, -1
        return self.target(level, index, step)

    def target(self, level: Level, index: int, step: Any) -> tuple[int, int]:
        """Where the task at ``index`` of ``level`` goes on after a jump or a break.

        ``step`` is the jump's offset (as :meth:`jump_call` takes it) or
        :data:`BREAK_LEVEL`. A jump before the block's first task starts it
        again; one past its end, or a break, ends it. Leaving the definition
        itself gives an operation past the last one.
        """
        end = len(self.ops)
        if step is BREAK_LEVEL:
            # Leaving the definition itself keeps callback_pos at the task.
            return level.entries[-1] if level.depth else (end, index + 1)
        target = index + step
        if 0 <= target < level.size:
            return level.entries[target]
        target = clamp_jump(target, level.size)
        if target < level.size:
            return level.entries[target]
        return level.entries[-1] if level.depth else (end, target)

    def compiled_from(self, definition: Any) -> bool:
        """Whether ``definition`` still has the structure and items compiled here.

        The snapshot is compared from its side, so its stand-ins decide for
        the items whose ``==`` is not identity and no task's ``__eq__`` is
        called with one of them. An item whose ``__eq__`` raises on what it
        is compared with counts as a change.
        """
        try:
            return self.snapshot == definition
        except Exception:
            return False

    def _lay_out(
        self, items: Any, depth: int, prefix: tuple[int, ...]
    ) -> tuple[Level, Any]:
        """Append the operations of one block; return its level and snapshot."""
        ops = self.ops
        level = Level(depth, items)
        entries = level.entries
        snapshot: list[Any] = []
        segment: list[Any] | None = None
        for index, item in enumerate(items):
            if isinstance(item, (list, tuple)):
                segment = None
                entries.append((len(ops), -1))
                child, child_snapshot = self._lay_out(item, depth + 1, (*prefix, index))
                level.children[index] = child
                snapshot.append(child_snapshot)
                continue
            kind = type(item)
            if kind is _ControlTask:
                segment = None
                entries.append((len(ops), index))
                ops.append(_control_op(item, level, (*prefix, index), index))
            else:
                if segment is None:
                    segment = []
                    ops.append(
                        (SEGMENT, level, (*prefix, index), index, segment, None, None)
                    )
                entries.append((len(ops) - 1, index))
                segment.append(item)
            if kind in _IDENTITY_EQUAL or kind.__eq__ is object.__eq__:
                snapshot.append(item)
            else:
                snapshot.append(_Same(item))
        # Where the block's normal end goes on: the next operation laid out,
        # which is the parent block's next item (or further up).
        entries.append((len(ops), -1))
        return level, (tuple(snapshot) if isinstance(items, tuple) else snapshot)

    def resume_point(self, pos: list[int]) -> tuple[int, int]:
        """Where to start for ``callback_pos`` ``pos``: ``(operation, index)``.

        Follows the rules of a restart: a position inside nested blocks
        resumes there, a negative index starts its block at its first item,
        a block item that is not a block is refused. ``pos`` is fixed up in
        place as the nested run does it.

        :raises WorkflowError: when ``pos`` goes through an item that is not
            a block.
        """
        level = self.top
        depth = 0
        while True:
            if len(pos) <= depth:
                pos.append(0)
            index = pos[depth]
            if index < 0:
                index = pos[depth] = 0
            if len(pos) <= depth + 1:
                break
            if index < level.size:
                child = level.children[index]
                if child is None:
                    raise WorkflowError(
                        f"callback_pos {pos} does not fit the definition: item"
                        f" {index} at nesting level {depth} is"
                        f" {level.items[index]!r}, not a block; the definition"
                        " changed since the position was saved"
                    )
                level = child
                depth += 1
                continue
            del pos[depth + 1 :]
            index += 1
            break
        if index < level.size:
            return level.entries[index]
        if depth == 0:
            return len(self.ops), index
        return level.entries[-1]


def _control_op(
    task: _ControlTask, level: Level, path: tuple[int, ...], index: int
) -> tuple[Any, ...]:
    """The operation running the control task ``task``."""
    outcomes = task.outcomes
    # The outcomes become targets once every block is laid out (Program).
    if outcomes is None:
        return (DECIDE, level, path, index, task.decide, None, None)
    if task.cond is None:
        return (CONSTANT, level, path, index, None, outcomes[0], outcomes[0])
    return (TEST, level, path, index, task.cond, outcomes[0], outcomes[1])
