"""The description each pattern task carries, for the engine, diagrams, fingerprints.

Every task made by :mod:`workflow.patterns` is a plain function (2.x
applications introspect its ``__closure__``). What the engine, the diagrams
of :mod:`workflow.graph` and the storage fingerprint need to know about it
is attached to the function as data, :attr:`Pattern.ATTRIBUTE`, and never
recovered from its closure cells or its ``__qualname__``.

A control task (a condition, a jump, a loop head) also *acts* when called as
an ordinary task: it raises the engine's usual control-flow exceptions. The
engine's task loop, when no per-task hook asks for every task to be called,
reads the description instead and moves itself, which spares an exception
per step. Both ways end in the same move.
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ("BREAK_LEVEL", "Pattern", "pattern_of")


class _BreakLevel:
    """Marker for "leave the block", as :meth:`break_current_loop` does."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "BREAK_LEVEL"


BREAK_LEVEL: Any = _BreakLevel()
"""The step that leaves the block a control task sits in."""


class Pattern:
    """What a task made by a pattern factory is, as plain data.

    :ivar name: the factory's name (``"IF_ELSE"``, ``"TASK_JUMP_BWD"``...).
    :ivar task: the function this description belongs to (a copy of the
        attribute on a :func:`functools.wraps` wrapper describes another
        function, so the wrapper stays an ordinary task).
    :ivar control: whether the task moves the engine (a condition, a jump,
        a loop head); the others are ordinary tasks with a description.
    :ivar cond: for a control task deciding by a condition, the condition.
    :ivar when_true: the step when ``cond`` holds, or the constant step of a
        control task without condition; ``None`` goes on with the next task,
        ``BREAK_LEVEL`` leaves the block, an int jumps as
        :meth:`~workflow.engine.GenericWorkflowEngine.jump_call` does.
    :ivar when_false: the step when ``cond`` does not hold.
    :ivar decide: for a control task whose step is computed,
        ``decide(obj, eng)`` returns it.
    :ivar tasks: the tasks and blocks the pattern runs or calls (its
        condition, branches, setter...), described in turn by a fingerprint.
    :ivar shape: the values that change how the definition moves (jump
        steps, offsets, the order of a loop), part of a fingerprint.
    :ivar params: the factory's arguments by name, for diagrams and readers.
    :ivar legacy: for a task whose closure differs from the one it had in
        2.2.0, ``(qualified name, closure values)`` of that one, so that a
        workflow stored with a 2.2.0 fingerprint is still recognised.
    """

    ATTRIBUTE = "workflow_pattern"
    """The name of the function attribute holding the description."""

    __slots__ = (
        "cond",
        "control",
        "decide",
        "legacy",
        "name",
        "params",
        "shape",
        "task",
        "tasks",
        "when_false",
        "when_true",
    )

    def __init__(
        self,
        name: str,
        *,
        control: bool = False,
        cond: Callable[[Any, Any], Any] | None = None,
        when_true: Any = None,
        when_false: Any = None,
        decide: Callable[[Any, Any], Any] | None = None,
        tasks: tuple[Any, ...] = (),
        shape: tuple[Any, ...] = (),
        params: dict[str, Any] | None = None,
        legacy: tuple[str, tuple[Any, ...]] | None = None,
    ) -> None:
        self.name = name
        self.task: Any = None
        self.control = control
        self.cond = cond
        self.when_true = when_true
        self.when_false = when_false
        self.decide = decide
        self.tasks = tasks
        self.shape = shape
        self.params = params if params is not None else {}
        self.legacy = legacy

    def attach(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """Name ``function`` after the factory, attach this description, return it."""
        function.__name__ = self.name
        self.task = function
        setattr(function, self.ATTRIBUTE, self)
        return function

    def step(self, obj: Any, eng: Any) -> Any:
        """Where this control task moves on ``obj``: ``None``, a jump or a break."""
        if self.cond is not None:
            return self.when_true if self.cond(obj, eng) else self.when_false
        if self.decide is not None:
            return self.decide(obj, eng)
        return self.when_true

    def __repr__(self) -> str:
        return f"<Pattern {self.name} shape={self.shape!r}>"


def pattern_of(task: Any) -> Pattern | None:
    """The description of ``task`` when it is a pattern task itself, else ``None``.

    A :func:`functools.wraps` wrapper copies the attribute of the function
    it wraps; the copy describes that function, not the wrapper.
    """
    found = getattr(task, Pattern.ATTRIBUTE, None)
    if type(found) is Pattern and found.task is task:
        return found
    return None
