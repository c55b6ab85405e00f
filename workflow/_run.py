"""The task interpreter of :class:`~workflow.engine.GenericWorkflowEngine`.

One loop runs every task of every configuration: :meth:`_Interpreter._run_tasks`.
The rules of positions (where a jump lands, what a break leaves, where a
stored position resumes, where a finished block leaves ``callback_pos``)
live in :class:`Positions` and nowhere else. What differs from one run to
another (per-task hooks, an ``execute_callback`` override, debug logging) is
a :class:`TaskHooks` policy the engine chooses once when the run starts;
without one, the loop calls the tasks itself.

The loop walks each block of the *live* definition by index, as 2.x did: a
task added to (or replaced in) the running definition is reached by the
current object when its index comes. To spare the checks per task, each
block's *shape* (where each run of ordinary tasks ends) is kept while the
block keeps its length; those runs are read from the live list, and an item
that changed kind is still run as what it is now (see ``_run_tasks``).
"""

from __future__ import annotations

from logging import DEBUG
from time import perf_counter
from types import FunctionType
from typing import Any, Callable, NamedTuple

from ._observe import TASK_OK, task_outcome
from ._pattern import BREAK_LEVEL, Pattern, pattern_of
from .errors import BreakFromThisLoop, JumpCall, WorkflowAPIError, WorkflowError

__all__ = ("Positions", "TaskHooks", "checked_offset")


class _RunSuperseded(BaseException):
    """A task started a new run of its own engine, which finished the work.

    Raised in the outer run right after that task returns; ``process`` then
    returns without running anything more.
    """


class TaskHooks(NamedTuple):
    """The per-task policy of a run that calls every task through hooks."""

    before_each: Callable[[Any, Any, Any], Any]
    after_each: Callable[[Any, Any, Any], Any]
    execute: Callable[[Any, Any], Any]
    log: Any
    """The engine's logger when it logs each task at debug level, else ``None``."""
    finished: Any = None
    """:data:`workflow.signals.task_finished` when it has receivers for the
    engine, else ``None``."""


def checked_offset(offset: Any, method: str) -> int:
    """``offset`` if it is an int (not a bool), else ``TypeError`` naming ``method``."""
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise TypeError(
            f"{method}() takes an int offset, not {type(offset).__name__} ({offset!r})"
        )
    return offset


def busy_error(eng: Any) -> WorkflowAPIError:
    """The error for a run started on ``eng`` while another thread runs it."""
    return WorkflowAPIError(
        f"{eng!r} is already running in another thread; an engine runs one"
        " process() or restart() at a time. Use one engine per thread (create"
        " another engine of the same class for this thread)"
    )


class Positions:
    """Every rule about positions in a definition (SPEC 6.4 and 6.8).

    An *index* is a position in one block; a block is left with the index
    the walk would go on at (its *end*).
    """

    @staticmethod
    def landing(index: int, step: int, size: int) -> int:
        """Where a jump of ``step`` from ``index`` in a block of ``size`` items lands.

        ``1`` is the next task and ``0`` the same one again. A jump before
        the first task starts the block again; one far past the end lands
        at ``size + 1`` (the block then ends there).
        """
        target = index + step
        if target < 0:
            return 0
        if target > size + 1:
            return size + 1
        return target

    @staticmethod
    def after_break(index: int) -> int:
        """The end of a block left by a break at ``index``: the task stays current."""
        return index + 1

    @staticmethod
    def move(index: int, step: Any, size: int) -> int:
        """Where the task at ``index`` of a ``size``-long block goes on after ``step``.

        ``step`` is ``None`` (the next task), a jump as
        :meth:`~workflow.engine.GenericWorkflowEngine.jump_call` takes it, or
        ``BREAK_LEVEL``. The result is the index to
        go on at (at or past ``size``: the block ends there), or, for a
        break, ``~end`` (a negative number) with the block's end.
        """
        if step is None:
            return index + 1
        if step is BREAK_LEVEL:
            return ~Positions.after_break(index)
        return Positions.landing(index, step, size)

    @staticmethod
    def final(end: int) -> int:
        """The index ``callback_pos`` keeps for a definition left at ``end``."""
        return end - 1

    @staticmethod
    def resume(levels: list[Any], pos: list[int], base: int) -> int:
        """Descend ``levels`` along the stored ``pos``; return the index to start at.

        ``levels`` holds the definition and gets each block ``pos`` goes
        through; ``pos`` is fixed up in place: an index below the start of
        its block starts the block at its first item, and a position past
        the end of a block that has deeper entries leaves that block after
        its last item.

        :raises WorkflowError: when ``pos`` goes through an item that is not
            a block (the definition changed since the position was saved).
        """
        depth = base
        while len(pos) <= depth:
            pos.append(0)
        while True:
            level = levels[-1]
            index = pos[depth]
            if index < 0:
                index = pos[depth] = 0
            if len(pos) == depth + 1:
                return index
            if index >= len(level):
                del pos[depth + 1 :]
                return index + 1
            block = level[index]
            if not isinstance(block, (list, tuple)):
                raise WorkflowError(
                    f"callback_pos {pos} does not fit the definition: item"
                    f" {index} at nesting level {depth} is {block!r}, not a"
                    " block; the definition changed since the position was"
                    " saved"
                )
            levels.append(block)
            depth += 1


Shape = tuple[Any, int, list[int], Any, tuple[Any, ...], list[Any], int]
"""A block's shape: ``(block, size, runs, controls, items, spans, final)``.

``runs[i]`` is where the run of ordinary tasks starting at index ``i`` ends
(``i`` itself for a block or a control task); ``controls[i]`` is, for the
control task at ``i``, its description and the :meth:`Positions.move` of
its two outcomes (``None`` elsewhere), or ``controls`` is ``None`` when
every item is an ordinary task; ``items`` are the items the shape was
computed from; ``spans[i]`` is ``range(i, runs[i])`` where a run of
ordinary tasks starts, the :meth:`Positions.move` of the control task at
``i`` when it moves the same way whatever the object (a jump, a break), and
``None`` elsewhere (a jump landing inside a run makes its own); ``final``
is :meth:`Positions.final` of a block that ends after its last item.
"""

_SHAPES: dict[int, Shape] = {}
"""The shape of each block run lately, by the block's id."""

_SHAPE_CACHE_SIZE = 256

_NO_SHAPE: Shape = (None, -1, [], None, (), [], -1)
"""The shape an engine has run last before its first run (it fits no block)."""

_PLAIN: dict[int, tuple[list[int], list[Any]]] = {}
"""The runs and spans of a block of ``size`` ordinary tasks, by ``size``."""


def _control_of(item: Any) -> Pattern | None:
    """The description of ``item`` if the loop may move by it, not call it."""
    pattern = pattern_of(item)
    if pattern is not None and pattern.control:
        return pattern
    return None


def _moves(control: Pattern, index: int, size: int) -> tuple[Any, ...]:
    """``control``, its outcomes' moves at ``index``, its ``cond``, ``decide``."""
    return (
        control,
        Positions.move(index, control.when_true, size),
        Positions.move(index, control.when_false, size),
        control.cond,
        control.decide,
    )


def _shape(level: Any) -> Shape:
    """The shape of ``level``, from the cache while the block keeps its length."""
    shape = _SHAPES.get(id(level))
    if shape is not None and shape[0] is level and shape[1] == len(level):
        return shape
    size = len(level)
    attribute = Pattern.ATTRIBUTE
    # A block of ordinary tasks shares its runs and spans with every other
    # of its size (they are only read), and needs no copy of its items.
    plain = _PLAIN.get(size)
    if plain is None:
        spans: list[Any] = [None] * (size + 1)
        if size:
            spans[0] = range(size)
        plain = _PLAIN[size] = ([size] * (size + 1), spans)
    runs, spans = plain
    items: tuple[Any, ...] = ()
    controls: list[Any] | None = None
    for item in level:
        # Most items are plain functions without a description: settle them
        # with two checks, and the whole block when all are.
        if type(item) is not FunctionType or attribute in item.__dict__:
            items = tuple(level)
            runs = [size] * (size + 1)
            spans = [None] * (size + 1)
            controls = [None] * size
            end = size
            for index in range(size - 1, -1, -1):
                item = items[index]
                if isinstance(item, (list, tuple)):
                    end = index
                else:
                    control = _control_of(item)
                    if control is not None:
                        moves = controls[index] = _moves(control, index, size)
                        if control.cond is None and control.decide is None:
                            # Its move is known: a run ending here takes it.
                            spans[index] = moves[1]
                        end = index
                runs[index] = end
            for index in range(size):
                end = runs[index]
                if end > index and (not index or runs[index - 1] == index - 1):
                    spans[index] = range(index, end)
            break
    if len(_SHAPES) >= _SHAPE_CACHE_SIZE:
        _SHAPES.clear()
    shape = _SHAPES[id(level)] = (
        level,
        size,
        runs,
        controls,
        items,
        spans,
        Positions.final(size),
    )
    return shape


class _Interpreter:
    """The task loop, mixed into :class:`~workflow.engine.GenericWorkflowEngine`."""

    state: Any
    log: Any
    log_fields: Callable[..., dict[str, Any]]
    # A new run of this engine (a task calling restart) changes the token,
    # and empties the segment the loop is iterating, which ends it at once.
    _run_token: object | None = None
    _segment: Any = None
    _last_shape: Shape = _NO_SHAPE

    def _run_tasks(
        self,
        definition: Any,
        obj: Any,
        run_token: object,
        hooks: TaskHooks | None,
        base: int = 0,
    ) -> None:
        """Run ``definition`` on ``obj`` from ``callback_pos``: the one task loop.

        :param definition: the (nested) list of tasks, at nesting level ``base``.
        :param run_token: the token of the run; when a task starts a new run
            of this engine, this one ends once that task returns.
        :param hooks: the per-task policy, or ``None`` to call tasks directly
            and move by the descriptions of the patterns' control tasks.
        """
        pos = self.state.callback_pos
        if len(pos) == base + 1 and pos[base] >= 0:
            index = pos[base]
            outer: list[Shape] = []
            # _shape(definition), without the call when it is the shape of
            # the definition this engine ran last (as it is for each object
            # but the first). Kept on the engine, so that it outlives no
            # engine and no definition.
            shape = self._last_shape
            if shape[0] is not definition or shape[1] != len(definition):
                shape = self._last_shape = _shape(definition)
        else:
            levels = [definition]
            index = Positions.resume(levels, pos, base)
            outer = [_shape(level) for level in levels[:-1]]
            shape = _shape(levels[-1])
        depth = base + len(outer)
        level, size, runs, controls, items, spans, final = shape
        # The shape at hand always fits the length of its block: wherever a
        # task may have changed that length, the shape is checked before the
        # walk goes on (a block whose length changed is walked as it is now).
        while True:
            if index < size:
                step: Any = None
                if hooks is None and runs[index] > index:
                    # A run of ordinary tasks, each read from the live list
                    # when its index comes: an item a task replaced runs as
                    # what it is now (a control task raises its move, a
                    # block is caught below); the run stops early when the
                    # list got shorter. Items added after the run are
                    # reached when the shape is worked out again.
                    span = spans[index]
                    if span is None:
                        span = range(index, runs[index])
                    segment = self._segment = iter(span)
                    try:
                        for index in segment:
                            # pos[depth] rather than pos[-1]: CPython stores
                            # at a non-negative index much faster.
                            pos[depth] = index
                            level[index](obj, self)
                    except BreakFromThisLoop:
                        step = BREAK_LEVEL
                    except JumpCall as jump:
                        step = jump.args[0]
                    except TypeError:
                        if index >= len(level) or not isinstance(
                            level[index], (list, tuple)
                        ):
                            raise
                        # A task replaced this item by a block: run it as one.
                        _SHAPES.pop(id(level), None)
                        level, size, runs, controls, items, spans, final = shape = (
                            _shape(level)
                        )
                        continue
                    except IndexError as error:
                        tb = error.__traceback__
                        if index < len(level) or (tb is not None and tb.tb_next):
                            raise
                        # A task removed the items after it: the block ends.
                        level, size, runs, controls, items, spans, final = shape = (
                            _shape(level)
                        )
                        continue
                    if self._run_token is not run_token:
                        raise _RunSuperseded
                    if step is None:
                        # After the last task run: the list may have changed
                        # under the run.
                        index += 1
                        if len(level) != size:
                            level, size, runs, controls, items, spans, final = shape = (
                                _shape(level)
                            )
                            continue
                        # A control task ending the run that moves the same
                        # way for every object (a loop's jump back) is taken
                        # at once, unless a task replaced it.
                        move = spans[index]
                        if move is None or level[index] is not items[index]:
                            continue
                    else:
                        move = Positions.move(index, step, len(level))
                else:
                    pos[depth] = index
                    item = level[index]
                    moves = None
                    if controls is not None and item is items[index]:
                        moves = controls[index]
                        # A nested block, whose shape its parent's keeps (a
                        # control task's moves start with its description,
                        # never with the item).
                        if moves is not None and moves[0] is item:
                            if moves[1] != len(item):
                                moves = controls[index] = _shape(item)
                            outer.append(shape)
                            pos.append(0)
                            depth += 1
                            level, size, runs, controls, items, spans, final = shape = (
                                moves
                            )
                            index = 0
                            continue
                    if moves is None and isinstance(item, (list, tuple)):
                        # _shape(item), without the call when it is cached;
                        # the parent's shape keeps it for the next entry.
                        child = _SHAPES.get(id(item))
                        if (
                            child is None
                            or child[0] is not item
                            or child[1] != len(item)
                        ):
                            child = _shape(item)
                        if controls is not None and item is items[index]:
                            controls[index] = child
                        outer.append(shape)
                        pos.append(0)
                        depth += 1
                        level, size, runs, controls, items, spans, final = shape = child
                        index = 0
                        continue
                    try:
                        if hooks is not None:
                            moves = None
                            self._run_hooked(item, obj, hooks)
                        elif moves is not None:
                            # Pattern.step, with the outcomes' moves worked
                            # out in advance.
                            cond = moves[3]
                            if cond is not None:
                                move = moves[1] if cond(obj, self) else moves[2]
                            elif moves[4] is not None:
                                step = moves[4](obj, self)
                                moves = None
                            else:
                                move = moves[1]
                        else:
                            # An item the shape does not know as it is now.
                            control = _control_of(item)
                            if control is None:
                                item(obj, self)
                            else:
                                step = control.step(obj, self)
                    except BreakFromThisLoop:
                        step = BREAK_LEVEL
                        moves = None
                    except JumpCall as jump:
                        step = jump.args[0]
                        moves = None
                    if self._run_token is not run_token:
                        raise _RunSuperseded
                    if moves is None:
                        if step is None:
                            index += 1
                            if len(level) != size:
                                level, size, runs, controls, items, spans, final = (
                                    shape
                                ) = _shape(level)
                            continue
                        move = Positions.move(index, step, len(level))
                if move >= 0:
                    index = move
                    length = len(level)
                    if index < length:
                        if length != size:
                            level, size, runs, controls, items, spans, final = shape = (
                                _shape(level)
                            )
                        continue
                    end = index
                else:
                    end = ~move
            else:
                end = index
            if depth == base:
                pos[depth] = final if end == size else Positions.final(end)
                return
            pos.pop()
            depth -= 1
            level, size, runs, controls, items, spans, final = shape = outer.pop()
            index = pos[depth] + 1
            if len(level) != size:
                level, size, runs, controls, items, spans, final = shape = _shape(level)

    def _run_hooked(self, task: Any, obj: Any, hooks: TaskHooks) -> None:
        """Call ``task`` through the run's per-task hooks."""
        if hooks.log is not None and hooks.log.isEnabledFor(DEBUG):
            hooks.log.debug(
                "Running task %s at %s on object %s",
                getattr(task, "__name__", task),
                list(self.state.callback_pos),
                self.state.token_pos,
                extra=self.log_fields(task),
            )
        if hooks.finished is not None:
            self._run_observed(task, obj, hooks)
            return
        hooks.before_each(self, task, obj)
        try:
            hooks.execute(task, obj)
        finally:
            hooks.after_each(self, task, obj)

    def _run_observed(self, task: Any, obj: Any, hooks: TaskHooks) -> None:
        """:meth:`_run_hooked`, then send ``task_finished`` however it ended."""
        state = self.state
        position = state.token_pos
        callback_pos = list(state.callback_pos)
        outcome = TASK_OK
        start = perf_counter()
        try:
            hooks.before_each(self, task, obj)
            try:
                hooks.execute(task, obj)
            finally:
                hooks.after_each(self, task, obj)
        except BaseException as exc:
            outcome = task_outcome(exc)
            raise
        finally:
            hooks.finished.send(
                self,
                obj=obj,
                position=position,
                callback_pos=callback_pos,
                task=task,
                duration=perf_counter() - start,
                outcome=outcome,
            )
