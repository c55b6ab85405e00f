"""The workflow engine: a finite state machine with memory.

A :class:`GenericWorkflowEngine` runs a *definition* (a possibly nested list
of tasks, each a callable taking ``(obj, eng)``) over a list of *objects*
(tokens), one object at a time. Its :class:`MachineState` remembers which
object and which task it is at, so that processing can be halted, inspected
and restarted from any point.

What happens around each object and task is delegated to overridable classes:
:class:`ProcessingFactory` (around the object loop and each object),
:class:`ActionMapper` (around each definition run and each task) and
:class:`TransitionActions` (what each control-flow exception does).
"""

from __future__ import annotations

import collections.abc
import logging
import sys
from _thread import get_ident
from collections.abc import Callable, Iterable
from time import perf_counter
from types import FunctionType, TracebackType
from typing import Any, NoReturn, Optional

from . import _observe
from ._deprecated import DeprecatedNames
from ._run import TaskHooks, _Interpreter, _RunSuperseded, busy_error, checked_offset
from ._vocabulary import OBJECT_MOVES, TASK_MOVES, check_restart_words
from .errors import (
    AbortProcessing,
    BreakFromThisLoop,
    ContinueNextToken,
    HaltProcessing,
    JumpCall,
    JumpCallBack,
    JumpCallForward,
    JumpToken,
    JumpTokenBack,
    JumpTokenForward,
    SkipToken,
    StopProcessing,
    WorkflowAPIError,
    WorkflowDefinitionError,
    WorkflowError,
    WorkflowObjectStatusError,
    WorkflowTransition,
)
from .utils import classproperty

__all__ = (
    "AbortProcessing",
    "ActionMapper",
    "Break",
    "BreakFromThisLoop",
    "Callbacks",
    "Continue",
    "ContinueNextToken",
    "GenericWorkflowEngine",
    "HaltProcessing",
    "JumpCall",
    "JumpCallBack",
    "JumpCallForward",
    "JumpToken",
    "JumpTokenBack",
    "JumpTokenForward",
    "MachineState",
    "ProcessingFactory",
    "Signal",
    "SkipToken",
    "StopProcessing",
    "TransitionActions",
    "WorkflowAPIError",
    "WorkflowDefinitionError",
    "WorkflowError",
    "WorkflowObjectStatusError",
    "WorkflowTransition",
    "get_logger",
    "reset_all_loggers",
)

Task = Callable[[Any, "GenericWorkflowEngine"], Any]
"""A task: any callable taking ``(obj, eng)``."""

ExcInfo = tuple[type[BaseException], BaseException, Optional[TracebackType]]
"""The ``sys.exc_info()`` triple a transition handler receives."""


# --------------------------------------------------------------------------
# Logging


_handed_out_loggers: dict[str, logging.Logger] = {}
# Engines are created often (one per task-queue message): keep each class's
# logger rather than asking the logging module (and its lock) every time.
_engine_loggers: dict[type, logging.Logger] = {}


def get_logger(name: str) -> logging.Logger:
    """Return the logger ``name`` under the ``workflow`` logger hierarchy.

    A name outside the hierarchy is prefixed with ``workflow.``. The library
    attaches no handler and sets no level: the application configures
    logging.

    :param name: the logger's name, e.g. ``"workflow.engine.MyEngine"``.
    """
    if name != "workflow" and not name.startswith("workflow."):
        name = "workflow." + name
    logger = logging.getLogger(name)
    _handed_out_loggers[name] = logger
    return logger


def reset_all_loggers(level: int | str) -> None:
    """Set ``level`` on every logger handed out by :func:`get_logger` so far.

    :param level: a :mod:`logging` level, such as ``logging.DEBUG``.
    """
    for logger in _handed_out_loggers.values():
        logger.setLevel(level)


def _logger_name_for(cls: type) -> str:
    module = cls.__module__
    if module == "workflow" or module.startswith("workflow."):
        return f"{module}.{cls.__qualname__}"
    return f"workflow.{module}.{cls.__qualname__}"


# --------------------------------------------------------------------------
# Signals


class _Signal:
    """Sends the :mod:`workflow.signals` signals, if blinker is installed.

    Each method runs ``import workflow.signals`` when called, through the
    import system, so a missing blinker (or an import refused at call time)
    is noticed then; it is reported once, as a warning, and the call does
    nothing.
    """

    def __init__(self) -> None:
        self._missing_reported = False

    def _missing(self, eng: Any) -> None:
        if not self._missing_reported:
            self._missing_reported = True
            log = eng.log if eng is not None else logging.getLogger()
            fields = getattr(eng, "log_fields", None)
            log.warning(
                "Could not import signals lib; ignoring all future signal calls.",
                extra=None if fields is None else fields(),
            )

    # Each method runs the import statement itself: one call less per signal
    # than a shared helper, and two signals are sent per run.

    def workflow_started(self, eng: Any, *args: Any, **kwargs: Any) -> None:
        """Send :data:`workflow.signals.workflow_started` with ``eng`` as sender."""
        try:
            import workflow.signals
        except ImportError:
            self._missing(eng)
            return
        signal = workflow.signals.workflow_started
        if signal.receivers:
            signal.send(eng, *args, **kwargs)

    def workflow_finished(self, eng: Any, *args: Any, **kwargs: Any) -> None:
        """Send :data:`workflow.signals.workflow_finished` with ``eng`` as sender."""
        try:
            import workflow.signals
        except ImportError:
            self._missing(eng)
            return
        signal = workflow.signals.workflow_finished
        if signal.receivers:
            signal.send(eng, *args, **kwargs)

    def workflow_halted(self, eng: Any, *args: Any, **kwargs: Any) -> None:
        """Send :data:`workflow.signals.workflow_halted` with ``eng`` as sender."""
        try:
            import workflow.signals
        except ImportError:
            self._missing(eng)
            return
        signal = workflow.signals.workflow_halted
        if signal.receivers:
            signal.send(eng, *args, **kwargs)

    def workflow_error(self, eng: Any, *args: Any, **kwargs: Any) -> None:
        """Send :data:`workflow.signals.workflow_error` with ``eng`` as sender."""
        try:
            import workflow.signals
        except ImportError:
            self._missing(eng)
            return
        signal = workflow.signals.workflow_error
        if signal.receivers:
            signal.send(eng, *args, **kwargs)


Signal: _Signal = _Signal()
"""The one :class:`_Signal` instance, used by every engine."""


# --------------------------------------------------------------------------
# Transitions of the object loop


class Break(Exception):
    """Raised by a transition action to leave the object loop."""


def _log_transition(eng: Any, callbacks: Any, message: str, *args: Any) -> None:
    """Log ``message`` at debug level, with the engine's fields, when enabled.

    The record is about the task at ``callback_pos`` in ``callbacks``.
    """
    log = eng.log
    if log.isEnabledFor(_DEBUG):
        task = _observe.task_at(callbacks, eng.state.callback_pos)
        log.debug(message, *args, extra=eng.log_fields(task), stacklevel=2)


class Continue(Exception):
    """Raised by a transition action to go straight to the next object."""


# --------------------------------------------------------------------------
# State and definitions


class MachineState:
    """Where the engine is: which object, and which task of the definition.

    :param token_pos: index of the object being (or last) processed;
        ``-1`` before the first one.
    :param callback_pos: path to the task being run, one index per nesting
        level of the definition; ``[0]`` at the start.

    ``token_pos`` is raised by one *before* an object is taken;
    ``callback_pos`` is updated after a task returns, so after an exception it
    still points at the task that raised.
    """

    __slots__ = ("_token_pos", "callback_pos", "current_object_processed")

    def __init__(
        self, token_pos: int | None = None, callback_pos: list[int] | None = None
    ) -> None:
        self._token_pos = -1
        self.callback_pos: list[int] = [0]
        self.current_object_processed: bool = False
        if token_pos is not None:
            self.token_pos = token_pos
        if callback_pos is not None:
            self.callback_pos = callback_pos

    @property
    def token_pos(self) -> int:
        """Index of the current object; ``-1`` before the first one."""
        return self._token_pos

    @token_pos.setter
    def token_pos(self, value: int) -> None:
        if type(value) is not int and (
            isinstance(value, bool) or not isinstance(value, int)
        ):
            raise TypeError(
                f"token_pos must be an int, not {type(value).__name__} ({value!r})"
            )
        if value < -1:
            raise AttributeError(
                f"token_pos cannot be set to {value}: the lowest position is -1"
                " (before the first object)"
            )
        self._token_pos = value

    def reset(self) -> None:
        """Go back to before the first object and task."""
        self._token_pos = -1
        self.callback_pos = [0]
        self.current_object_processed = False

    def token_pos_reset(self) -> None:
        """Set ``token_pos`` back to ``-1``."""
        self._token_pos = -1

    def callback_pos_reset(self) -> None:
        """Set ``callback_pos`` to a fresh ``[0]``."""
        self.callback_pos = [0]

    def __getstate__(self) -> dict[str, Any]:
        return {
            "token_pos": self._token_pos,
            "callback_pos": self.callback_pos,
            "current_object_processed": self.current_object_processed,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._token_pos = state["token_pos"]
        self.callback_pos = state["callback_pos"]
        self.current_object_processed = state["current_object_processed"]

    def __repr__(self) -> str:
        return (
            f"MachineState(token_pos={self._token_pos}, "
            f"callback_pos={self.callback_pos!r}, "
            f"current_object_processed={self.current_object_processed})"
        )


def _check_definition(
    items: Any, path: tuple[int, ...] = (), first_index: int = 0
) -> None:
    """Raise ``TypeError`` naming the first item that cannot be run."""
    for index, item in enumerate(items, first_index):
        if item is None or callable(item):
            continue
        if isinstance(item, (list, tuple)):
            _check_definition(item, (*path, index))
            continue
        raise TypeError(
            f"Workflow definition item at position {[*path, index]} is {item!r}"
            f" ({type(item).__name__}), which is neither a task (a callable"
            " taking (obj, eng)) nor a list of tasks"
        )


class Callbacks:
    """The definitions of an engine, stored under string keys.

    The default key is ``'*'``; other keys let one engine hold one definition
    per kind of object (see :meth:`GenericWorkflowEngine.callback_chooser`).
    """

    def __init__(self) -> None:
        self._definitions: dict[Any, list[Any]] = {}

    def get(self, key: Any = "*") -> Any:
        """Return the definition stored under ``key``.

        :param key: the definition's key; a falsy key returns the whole
            key-to-definition mapping instead.
        :raises KeyError: when nothing is stored under ``key``.
        """
        if not key:
            return self._definitions
        try:
            return self._definitions[key]
        except KeyError:
            raise KeyError(
                f"No workflow is registered for the key: {key}. Make sure that"
                " the workflows were loaded (set with callbacks.replace() or"
                " add_many()) and that the definition was not empty."
            ) from None

    def add(self, func: Any, key: Any = "*") -> None:
        """Append one task or block to the definition under ``key``.

        A falsy ``func`` (``None``, an empty list) is ignored and creates
        nothing.

        :raises TypeError: when ``func`` is neither callable nor a list or
            tuple of such.
        """
        if not func:
            return
        _check_definition((func,), (), len(self._definitions.get(key, ())))
        self._definitions.setdefault(key, []).append(func)

    def add_many(self, list_or_tuple: Iterable[Any], key: Any = "*") -> None:
        """Clean ``list_or_tuple`` (:meth:`cleanup_callables`) and add each item."""
        self._add_cleaned(self._cleaned(list_or_tuple), key)

    def _cleaned(self, funcs: Iterable[Any]) -> list[Any]:
        """Clean and check ``funcs``; drop the falsy items ``add`` ignores."""
        if type(funcs) is list and (
            getattr(self.cleanup_callables, "__func__", None) is _CLEANUP_CALLABLES
        ):
            # A list of plain functions, the usual definition, is its own
            # cleaned and checked copy.
            function_type = FunctionType
            for item in funcs:
                if type(item) is not function_type:
                    break
            else:
                return list(funcs)
        items = [item for item in self.cleanup_callables(funcs) if item]
        _check_definition(items)
        return items

    def _add_cleaned(self, items: list[Any], key: Any) -> None:
        """Append already cleaned and checked items, through an overridden ``add``."""
        if type(self).add is not Callbacks.add:
            for item in items:
                self.add(item, key)
        elif items:
            self._definitions.setdefault(key, []).extend(items)

    @classmethod
    def cleanup_callables(cls, callbacks: Iterable[Any]) -> list[Any]:
        """Return ``callbacks`` cleaned: lists stay nested, tuples flattened.

        Lists are cleaned recursively and stay lists; tuples are flattened
        into their parent at any depth; ``None`` is dropped; anything else is
        kept as it is::

            [f, (g, (h, None)), [i, (j,)], None]  ->  [f, g, h, [i, j]]
        """
        cleaned: list[Any] = []
        function_type = FunctionType
        for item in callbacks:
            # Most items are plain functions: settle them with one check.
            if type(item) is function_type:
                cleaned.append(item)
                continue
            if item is None:
                continue
            if isinstance(item, list):
                cleaned.append(cls.cleanup_callables(item))
            elif isinstance(item, tuple):
                cleaned.extend(cls.cleanup_callables(item))
            else:
                cleaned.append(item)
        return cleaned

    def replace(self, funcs: Iterable[Any], key: Any = "*") -> None:
        """Replace the definition under ``key`` with ``funcs`` (cleaned).

        ``funcs`` is checked before anything is removed, so a bad definition
        leaves the old one in place.
        """
        items = self._cleaned(funcs)
        self.clear(key)
        self._add_cleaned(items, key)

    def clear(self, key: Any = "*") -> None:
        """Remove the definition under ``key``, if there is one."""
        self._definitions.pop(key, None)

    def clear_all(self) -> None:
        """Remove every definition."""
        self._definitions.clear()

    def empty(self) -> bool:
        """Return whether no definition is stored."""
        return not self._definitions

    def __repr__(self) -> str:
        return f"<Callbacks {self._definitions!r}>"


class _ExtraData(dict):  # type: ignore[type-arg]
    """The engine's ``extra_data``: a dict with the 2.0 ``setget`` method."""

    def setget(self, key: Any, default: Any = None) -> Any:
        """Return ``self[key]``, storing ``default`` there first if missing."""
        return self.setdefault(key, default)


# --------------------------------------------------------------------------
# Overridable behaviour


class ActionMapper:
    """Hooks around each run of a definition and each task (all no-ops).

    Subclass it and return the subclass from
    :attr:`ProcessingFactory.action_mapper` to add behaviour.
    """

    @staticmethod
    def before_callbacks(obj: Any, eng: GenericWorkflowEngine) -> None:
        """Called before the definition runs on ``obj``."""

    @staticmethod
    def after_callbacks(obj: Any, eng: GenericWorkflowEngine) -> None:
        """Called after the definition ran on ``obj``, whatever happened."""

    @staticmethod
    def before_each_callback(
        eng: GenericWorkflowEngine, callback: Task, obj: Any
    ) -> None:
        """Called before each task."""

    @staticmethod
    def after_each_callback(
        eng: GenericWorkflowEngine, callback: Task, obj: Any
    ) -> None:
        """Called after each task, whatever happened."""


class TransitionActions:
    """What the engine does when a task raises, by exception class name.

    The engine looks up the method named after the exception's class
    (``type(exc).__name__``), falling back to :meth:`Exception`, and calls it
    as ``handler(obj, eng, callbacks, exc_info)``. A handler may raise
    :class:`Break` (leave the object loop), :class:`Continue` (next object),
    re-raise (leave :meth:`~GenericWorkflowEngine.process`), or return (the
    object is left as it is and the loop goes on). Add a method to handle
    another exception class by name.
    """

    @staticmethod
    def StopProcessing(
        obj: Any, eng: GenericWorkflowEngine, callbacks: Any, exc_info: ExcInfo
    ) -> None:
        """Leave the object loop; ``after_processing`` still runs."""
        _log_transition(
            eng, callbacks, "Processing was stopped at object %s", eng.state.token_pos
        )
        raise Break

    @staticmethod
    def HaltProcessing(
        obj: Any, eng: GenericWorkflowEngine, callbacks: Any, exc_info: ExcInfo
    ) -> None:
        """Send ``workflow_halted`` and re-raise the halt to the caller."""
        # Checked here too: halts are frequent, and the call and its
        # arguments cost as much as the check when debug logging is off.
        if eng.log.isEnabledFor(_DEBUG):
            _log_transition(
                eng,
                callbacks,
                "Processing was halted at object %s, task %s",
                eng.state.token_pos,
                eng.state.callback_pos,
            )
        eng.signal.workflow_halted(eng)
        try:
            raise exc_info[1].with_traceback(exc_info[2])
        finally:
            # The traceback holds this frame, which holds the traceback: drop
            # the reference so a halt leaves no cycle for the collector.
            del exc_info

    @staticmethod
    def ContinueNextToken(
        obj: Any, eng: GenericWorkflowEngine, callbacks: Any, exc_info: ExcInfo
    ) -> None:
        """Reset the task position and go on with the next object."""
        _log_transition(
            eng,
            callbacks,
            "Continuing with the object after %s",
            eng.state.token_pos,
        )
        eng.state.callback_pos_reset()
        raise Continue

    @staticmethod
    def JumpToken(
        obj: Any, eng: GenericWorkflowEngine, callbacks: Any, exc_info: ExcInfo
    ) -> None:
        """Move ``token_pos`` by the jump's offset and reset the task position."""
        step = exc_info[1].args[0]
        state = eng.state
        # The record names the task that jumped: found before the reset.
        task = _observe.task_at(callbacks, state.callback_pos)
        if step > 0:
            state.token_pos = min(len(eng), state.token_pos - 1 + step)
        else:
            state.token_pos = max(-1, state.token_pos - 1 + step)
        state.callback_pos_reset()
        log = eng.log
        if log.isEnabledFor(_DEBUG):
            log.debug(
                "Jumped %s objects, to token_pos %s",
                step,
                state.token_pos,
                extra=eng.log_fields(task),
            )

    @staticmethod
    def JumpTokenForward(
        obj: Any, eng: GenericWorkflowEngine, callbacks: Any, exc_info: ExcInfo
    ) -> None:
        """As :meth:`JumpToken`; a negative offset raises :class:`WorkflowError`."""
        step = exc_info[1].args[0]
        if step < 0:
            raise WorkflowError(
                f"JumpTokenForward cannot jump backwards (offset {step});"
                " use jump_token() with a negative offset"
            )
        TransitionActions.JumpToken(obj, eng, callbacks, exc_info)

    @staticmethod
    def JumpTokenBack(
        obj: Any, eng: GenericWorkflowEngine, callbacks: Any, exc_info: ExcInfo
    ) -> None:
        """As :meth:`JumpToken`; a positive offset raises :class:`WorkflowError`."""
        step = exc_info[1].args[0]
        if step > 0:
            raise WorkflowError(
                f"JumpTokenBack cannot jump forwards (offset {step});"
                " use jump_token() with a positive offset"
            )
        TransitionActions.JumpToken(obj, eng, callbacks, exc_info)

    @staticmethod
    def SkipToken(
        obj: Any, eng: GenericWorkflowEngine, callbacks: Any, exc_info: ExcInfo
    ) -> None:
        """Go on with the next object, saving nothing for this one."""
        _log_transition(eng, callbacks, "Skipped object %s", eng.state.token_pos)
        eng.state.callback_pos_reset()
        raise Continue

    @staticmethod
    def AbortProcessing(
        obj: Any, eng: GenericWorkflowEngine, callbacks: Any, exc_info: ExcInfo
    ) -> None:
        """Leave the object loop, saving nothing for this object."""
        _log_transition(
            eng, callbacks, "Processing was aborted at object %s", eng.state.token_pos
        )
        raise Break

    @staticmethod
    def Exception(
        obj: Any, eng: GenericWorkflowEngine, callbacks: Any, exc_info: ExcInfo
    ) -> None:
        """Send ``workflow_error`` and re-raise the exception to the caller."""
        eng.signal.workflow_error(eng)
        try:
            raise exc_info[1].with_traceback(exc_info[2])
        finally:
            del exc_info


class ProcessingFactory:
    """Hooks around the object loop and each object.

    Subclass it and return the subclass from the engine's
    ``processing_factory`` class property to add behaviour.
    """

    @classproperty
    def action_mapper(cls) -> Any:
        """The :class:`ActionMapper` (sub)class used for definitions and tasks."""
        return ActionMapper

    @classproperty
    def transition_exception_mapper(cls) -> Any:
        """The :class:`TransitionActions` (sub)class handling exceptions."""
        return TransitionActions

    @staticmethod
    def before_processing(eng: GenericWorkflowEngine, objects: Any) -> None:
        """Send ``workflow_started`` and attach ``objects`` to the engine."""
        eng.signal.workflow_started(eng)
        eng.state.current_object_processed = False
        eng.objects = objects

    @staticmethod
    def after_processing(eng: GenericWorkflowEngine, objects: Any) -> None:
        """Send ``workflow_finished`` and mark the run as finished."""
        eng.signal.workflow_finished(eng)
        eng.state.current_object_processed = True

    @staticmethod
    def before_object(eng: GenericWorkflowEngine, objects: Any, obj: Any) -> None:
        """Called before each object is processed."""

    @staticmethod
    def after_object(eng: GenericWorkflowEngine, objects: Any, obj: Any) -> None:
        """Called after each object completed without exception."""


class GenericWorkflowEngine(_Interpreter, DeprecatedNames):
    """A finite state machine with memory, running tasks over objects.

    :ivar callbacks: the definitions (:class:`Callbacks`).
    :ivar objects: the objects being processed (``[]`` at first).
    :ivar log: the engine's :class:`logging.Logger` (:meth:`init_logger`).
    :ivar state: where the engine is (:class:`MachineState`).
    :ivar extra_data: a dict shared by all tasks for the engine's life.

    One engine is not thread-safe: run one engine per thread.
    """

    def __init__(self) -> None:
        self.callbacks: Callbacks = Callbacks()
        self.objects: Any = []
        self.log: logging.Logger = self.init_logger()
        self.state: MachineState = MachineState()
        self.extra_data: dict[Any, Any] = _ExtraData()

    def __getstate__(self) -> dict[str, Any]:
        """The engine's attributes, less what a run sets up for itself."""
        state = self.__dict__.copy()
        for name in _RUN_STATE:
            state.pop(name, None)
        return state

    # -- overridable parts ---------------------------------------------------

    @classproperty
    def processing_factory(cls) -> Any:
        """The :class:`ProcessingFactory` (sub)class of this engine."""
        return ProcessingFactory

    @classproperty
    def signal(cls) -> _Signal:
        """The :class:`_Signal` used to send the workflow signals."""
        return Signal

    def init_logger(self) -> logging.Logger:
        """Return the engine's logger, named after its class under ``workflow``."""
        engine_class = type(self)
        logger = _engine_loggers.get(engine_class)
        if logger is None:
            logger = get_logger(_logger_name_for(engine_class))
            _engine_loggers[engine_class] = logger
        return logger

    def callback_chooser(self, obj: Any) -> Any:
        """Return the definition to run on ``obj``.

        Objects with a 2.x ``getFeature`` method get the definition stored
        under ``obj.getFeature('type')`` (deprecated); others the one under
        ``'*'``. Override to choose by your own rule.
        """
        get_feature = getattr(obj, "getFeature", None)
        if get_feature is not None:
            import warnings

            warnings.warn(
                "Choosing callbacks through obj.getFeature('type') is deprecated;"
                " override callback_chooser() instead",
                DeprecationWarning,
                stacklevel=2,
            )
            kind = get_feature("type")
            return self.callbacks.get(kind) if kind else None
        return self.callbacks.get("*")

    def execute_callback(self, callback: Task, obj: Any) -> None:
        """Run one task on ``obj``; override to wrap every task."""
        callback(obj, self)

    # -- properties ----------------------------------------------------------

    def __len__(self) -> int:
        return len(self.objects)

    @property
    def current_object(self) -> Any:
        """The object being (or last) processed, ``None`` before the first."""
        if self.state.token_pos < 0:
            return None
        return self.objects[self.state.token_pos]

    @property
    def has_completed(self) -> bool:
        """Whether every object has been processed."""
        token_pos = self.state.token_pos
        if token_pos == -1:
            return False
        return (
            token_pos >= len(self.objects) - 1 and self.state.current_object_processed
        )

    @property
    def current_taskname(self) -> str | None:
        """Name of the task at ``callback_pos`` (``str()`` of a block there).

        ``None`` when the position points past the definition, or when no
        definition is stored under ``'*'``.
        """
        try:
            node: Any = self.callbacks.get("*")
        except KeyError:
            return None
        try:
            for index in self.state.callback_pos:
                node = node[index]
                if callable(node):
                    break
        except (IndexError, TypeError):
            return None
        if isinstance(node, (list, tuple)):
            return str(node)
        return getattr(node, "__name__", repr(node))

    # -- control methods (called by tasks) -------------------------------------

    def halt(self, msg: str = "", action: Any = None, payload: Any = None) -> NoReturn:
        """Halt the engine: the caller gets :class:`HaltProcessing`.

        The state is kept, so the caller can inspect it and :meth:`restart`.

        :param msg: why the engine halts.
        :param action: name of what the application should do about it.
        :param payload: any data to hand to the application.
        """
        # HaltProcessing(msg, action=action, payload=payload), without the
        # Python-level __init__ call, which costs most of a halt's set-up:
        # the exception's own __new__ sets args, the class holds the
        # attributes' defaults.
        halt = _new_exception(HaltProcessing, msg)
        halt.message = msg
        if action is not None:
            halt.action = action
        if payload is not None:
            halt.payload = payload
        try:
            raise halt
        finally:
            # The traceback holds this frame: no reference back to the halt.
            del halt

    def stop(self) -> NoReturn:
        """Stop processing: no further object is taken."""
        raise StopProcessing

    def continue_next_token(self) -> NoReturn:
        """End the current object and go on with the next one."""
        raise ContinueNextToken

    def break_current_loop(self) -> NoReturn:
        """Leave the block being run; the enclosing block goes on."""
        raise BreakFromThisLoop

    def jump_call(self, offset: int) -> NoReturn:
        """Jump ``offset`` tasks away in the current block.

        ``1`` is the next task, ``2`` skips one, ``0`` runs the same task
        again, ``-1`` goes back to the previous one. A jump past either end
        stops at the end or restarts the block from its first task.
        """
        raise JumpCall(checked_offset(offset, "jump_call"))

    @staticmethod
    def jump_token(offset: int) -> NoReturn:
        """Jump ``offset`` objects away (``1`` is the next, ``0`` this one again)."""
        raise JumpToken(checked_offset(offset, "jump_token"))

    @staticmethod
    def skip_token() -> NoReturn:
        """Go on with the next object, saving nothing for this one."""
        raise SkipToken

    @staticmethod
    def abort() -> NoReturn:
        """Leave the object loop, saving nothing for the current object."""
        raise AbortProcessing

    # -- running -------------------------------------------------------------

    def process(
        self,
        objects: Iterable[Any],
        stop_on_error: bool = True,
        stop_on_halt: bool = True,
        initial_run: bool = True,
        reset_state: bool = True,
    ) -> None:
        """Run the definition over ``objects``, one object at a time.

        :param objects: the objects to process. A list (or other sequence) is
            used as it is and becomes :attr:`objects`; any other iterable is
            read into a list first.
        :param stop_on_error: when false, a :class:`WorkflowError` moves on to
            the next object instead of reaching the caller.
        :param stop_on_halt: when false, a :class:`HaltProcessing` moves on to
            the next object instead of reaching the caller.
        :param initial_run: kept for 2.x compatibility; unused.
        :param reset_state: start from the first object and task; false
            resumes from :attr:`state` (as :meth:`restart` does).
        :raises WorkflowError: when ``objects`` is not an iterable of objects
            or no definition is set.
        :raises WorkflowAPIError: when another thread is running this engine
            (one engine runs one run at a time; use one engine per thread).
        """
        ident = get_ident()
        attributes = self.__dict__
        # A task of this very run may call process() or restart(): only a
        # run started while another thread runs the engine is refused.
        outermost = attributes.get(_RUN_OWNER) != ident
        if outermost and attributes.setdefault(_RUN_OWNER, ident) != ident:
            raise busy_error(self)
        try:
            if type(objects) is not list or not objects:
                objects = self._checked_objects(objects)
            callbacks = self.callbacks
            if (
                not callbacks._definitions
                if type(callbacks) is Callbacks
                else callbacks.empty()
            ):
                raise WorkflowError("The callbacks are empty, did you set them?")
            if reset_state:
                state = self.state
                if type(state) is MachineState:
                    # MachineState.reset(), without the call.
                    state._token_pos = -1
                    state.callback_pos = [0]
                    state.current_object_processed = False
                else:
                    state.reset()
            segment = self._segment
            if segment is not None:
                # Called from a task of a run of this engine: empty the tasks
                # that run is iterating, so that it ends when the task returns.
                self._segment = None
                for _ in segment:
                    pass
            run_token = self._run_token = object()
            plan = self._plan()
            while True:
                try:
                    self._run_objects(objects, run_token, plan)
                    return
                except _RunSuperseded:
                    return
                except HaltProcessing:
                    if stop_on_halt or self._run_token is not run_token:
                        raise
                except WorkflowError:
                    if stop_on_error or self._run_token is not run_token:
                        raise
                self.state.callback_pos = [0]
        finally:
            if outermost:
                del attributes[_RUN_OWNER]

    def _plan(self) -> tuple[Any, ...]:
        """Decide, once per run, what the run calls: the run plan.

        Returns ``(factory, before_object, after_object, before_callbacks,
        after_callbacks, definitions, run_definition, task_hooks,
        observers)``: the processing factory (read here, as each run must);
        each per-object hook, or ``None`` when it is the default no-op; the
        definitions dict to read straight from when the default chooser and
        store are in use, else ``None``; ``run_callbacks`` when a subclass
        overrides it, else ``None``; the per-task
        :class:`~workflow._run.TaskHooks`, or ``None`` when no per-task
        hook, no ``execute_callback`` override, no debug logging and no
        receiver of :data:`~workflow.signals.task_finished` asks for one;
        and ``(object_started, object_finished)``, each signal or ``None``
        when nothing listens to it for this engine, or ``None`` when
        nothing listens to either.
        """
        factory = self.processing_factory
        mapper = factory.action_mapper
        before_object = factory.before_object
        after_object = factory.after_object
        before_callbacks = mapper.before_callbacks
        after_callbacks = mapper.after_callbacks
        before_each = mapper.before_each_callback
        after_each = mapper.after_each_callback
        cls = type(self)
        # Overrides on the class, or set on the instance (eng.method = ...).
        own = self.__dict__
        logs_tasks = self.log.isEnabledFor(_DEBUG)
        if (
            before_object is _BEFORE_OBJECT
            and after_object is _AFTER_OBJECT
            and before_callbacks is _BEFORE_CALLBACKS
            and after_callbacks is _AFTER_CALLBACKS
            and before_each is _BEFORE_EACH
            and after_each is _AFTER_EACH
            and not logs_tasks
            and _observe.SIGNALS is None
            and cls.execute_callback is _EXECUTE_CALLBACK
            and cls.callback_chooser is _CALLBACK_CHOOSER
            and cls.run_callbacks is _RUN_CALLBACKS
            and "execute_callback" not in own
            and "callback_chooser" not in own
            and "run_callbacks" not in own
            and type(self.callbacks) is Callbacks
        ):
            # Every hook is its default: the plan of most runs, at once.
            return (
                factory,
                None,
                None,
                None,
                None,
                self.callbacks._definitions,
                None,
                None,
                None,
            )
        observers = task_finished = None
        signals = _observe.SIGNALS
        if signals is not None and (
            signals[0].receivers or signals[1].receivers or signals[2].receivers
        ):
            observers, task_finished = self._observers(signals)
        task_hooks = None
        # A hook that is its own default does nothing: it is not called. (An
        # identity check per hook: a set lookup would hash each.)
        if (
            logs_tasks
            or before_each is not _BEFORE_EACH
            or after_each is not _AFTER_EACH
            or cls.execute_callback is not _EXECUTE_CALLBACK
            or "execute_callback" in own
            or task_finished is not None
        ):
            task_hooks = TaskHooks(
                before_each,
                after_each,
                self.execute_callback,
                self.log if logs_tasks else None,
                task_finished,
            )
        definitions = None
        if (
            cls.callback_chooser is _CALLBACK_CHOOSER
            and "callback_chooser" not in own
            and type(self.callbacks) is Callbacks
        ):
            definitions = self.callbacks._definitions
        run_definition = None
        if cls.run_callbacks is not _RUN_CALLBACKS or "run_callbacks" in own:
            run_definition = self.run_callbacks
        return (
            factory,
            None if before_object is _BEFORE_OBJECT else before_object,
            None if after_object is _AFTER_OBJECT else after_object,
            None if before_callbacks is _BEFORE_CALLBACKS else before_callbacks,
            None if after_callbacks is _AFTER_CALLBACKS else after_callbacks,
            definitions,
            run_definition,
            task_hooks,
            observers,
        )

    def _observers(self, signals: Any) -> tuple[Any, Any]:
        """The per-object signals and the per-task one this engine's run sends.

        ``signals`` are the three of :mod:`workflow.signals`, at least one of
        which has receivers; a signal whose receivers all listen to other
        engines is not sent (``None``).
        """
        started, finished, task_finished = (
            signal if signal.has_receivers_for(self) else None for signal in signals
        )
        if started is None and finished is None:
            return None, task_finished
        return (started, finished), task_finished

    def _run_objects(self, objects: Any, run_token: object, plan: Any) -> None:
        """The object loop (SPEC 6.3): each object through its definition."""
        (
            factory,
            before_object,
            after_object,
            before_callbacks,
            after_callbacks,
            definitions,
            run_definition,
            task_hooks,
            observers,
        ) = plan
        if observers is not None:
            self._run_objects_observed(objects, run_token, plan)
            return
        state = self.state
        # A plain MachineState is moved through its slot: the values written
        # here are always valid, and the property costs a call per object.
        plain_state = type(state) is MachineState
        before_processing = factory.before_processing
        if before_processing is _BEFORE_PROCESSING:
            # The default hook, without the call.
            self.signal.workflow_started(self)
            state.current_object_processed = False
            self.objects = objects
        else:
            before_processing(self, objects)
        while True:
            token_pos = (state._token_pos if plain_state else state.token_pos) + 1
            if token_pos >= len(objects):
                break
            if plain_state:
                state._token_pos = token_pos
            else:
                state.token_pos = token_pos
            obj = objects[token_pos]
            if before_object is not None:
                before_object(self, objects, obj)
            if definitions is not None and not hasattr(obj, "getFeature"):
                callbacks = definitions.get("*") or self.callbacks.get("*")
            else:
                callbacks = self.callback_chooser(obj)
            if callbacks:
                try:
                    if before_callbacks is not None:
                        before_callbacks(obj, self)
                    try:
                        if run_definition is None:
                            self._run_tasks(callbacks, obj, run_token, task_hooks)
                        else:
                            run_definition(callbacks, objects, obj)
                    finally:
                        if after_callbacks is not None:
                            after_callbacks(obj, self)
                except Exception:
                    if self._handle_transition(obj, callbacks, factory, run_token):
                        break
                    continue
                if after_object is not None:
                    after_object(self, objects, obj)
            state.callback_pos = [0]
        after_processing = factory.after_processing
        if after_processing is _AFTER_PROCESSING:
            self.signal.workflow_finished(self)
            state.current_object_processed = True
        else:
            after_processing(self, objects)

    def _run_objects_observed(self, objects: Any, run_token: object, plan: Any) -> None:
        """The object loop of :meth:`_run_objects`, sending the per-object signals.

        The run a plan with observers swaps in: each step as in
        :meth:`_run_objects` (which, without observers, sends nothing and
        checks nothing per object), plus the sends.
        """
        (
            factory,
            before_object,
            after_object,
            before_callbacks,
            after_callbacks,
            definitions,
            run_definition,
            task_hooks,
            (started, finished),
        ) = plan
        state = self.state
        factory.before_processing(self, objects)
        while True:
            token_pos = state.token_pos + 1
            if token_pos >= len(objects):
                break
            state.token_pos = token_pos
            obj = objects[token_pos]
            if before_object is not None:
                before_object(self, objects, obj)
            if definitions is not None and not hasattr(obj, "getFeature"):
                callbacks = definitions.get("*") or self.callbacks.get("*")
            else:
                callbacks = self.callback_chooser(obj)
            if started is not None:
                started.send(self, obj=obj, position=token_pos)
            start = perf_counter()
            if callbacks:
                try:
                    if before_callbacks is not None:
                        before_callbacks(obj, self)
                    try:
                        if run_definition is None:
                            self._run_tasks(callbacks, obj, run_token, task_hooks)
                        else:
                            run_definition(callbacks, objects, obj)
                    finally:
                        if after_callbacks is not None:
                            after_callbacks(obj, self)
                except Exception as exc:
                    if finished is not None:
                        finished.send(
                            self,
                            obj=obj,
                            position=token_pos,
                            outcome=_observe.SUPERSEDED
                            if self._run_token is not run_token
                            else _observe.object_outcome(exc),
                            duration=perf_counter() - start,
                        )
                    if self._handle_transition(obj, callbacks, factory, run_token):
                        break
                    continue
                except BaseException as exc:
                    # A new run of this engine finished the work
                    # (_RunSuperseded), or the process is interrupted.
                    if finished is not None:
                        finished.send(
                            self,
                            obj=obj,
                            position=token_pos,
                            outcome=_observe.SUPERSEDED
                            if isinstance(exc, _RunSuperseded)
                            else _observe.ERROR,
                            duration=perf_counter() - start,
                        )
                    raise
            if finished is not None:
                finished.send(
                    self,
                    obj=obj,
                    position=token_pos,
                    outcome=_observe.COMPLETED,
                    duration=perf_counter() - start,
                )
            if callbacks and after_object is not None:
                after_object(self, objects, obj)
            state.callback_pos = [0]
        factory.after_processing(self, objects)

    def log_fields(self, task: Any = None) -> dict[str, Any]:
        """The ``extra`` fields of the log records this engine emits.

        ``object_position`` is ``state.token_pos``; ``task_name`` is the
        name of ``task`` (:func:`workflow.signals.task_name`: a pattern's
        task is named after its condition, e.g. ``grade_is_not_passing``
        for ``IF(grade_is_not_passing, ...)``), ``None`` when the record is
        about no task. The engine asks for them only when the record's
        level is enabled. Engines kept in a store add ``workflow_uuid`` and
        ``workflow_name``; override to add fields of your own.

        :param task: the task the record is about.
        """
        return {
            "object_position": self.state.token_pos,
            "task_name": None if task is None else _observe.task_name(task),
        }

    def _checked_objects(self, objects: Any) -> Any:
        """``objects`` as the sequence to process, or a ``WorkflowError``.

        ``process`` takes a list that is not empty as it is, without this.
        """
        try:
            if isinstance(objects, (str, bytes)):
                # It iterates over its characters: never a list of objects.
                raise TypeError
            # iter() rather than an Iterable check: it also takes objects
            # that iterate through __getitem__ only.
            iterator = iter(objects)
        except TypeError:
            raise WorkflowError(
                f"process() needs a list of objects; got {type(objects).__name__}"
                f" {objects!r:.80}, which is not an iterable of objects"
                " (wrap a single object in a list: [obj])"
            ) from None
        if not isinstance(objects, collections.abc.Sequence):
            objects = list(iterator)
        if not len(objects) and self.log.isEnabledFor(logging.WARNING):
            self.log.warning(
                "List of objects is empty."
                " Running workflow on empty set has no effect.",
                extra=self.log_fields(),
            )
        return objects

    def restart(
        self,
        obj: str,
        task: str,
        objects: Any = None,
        stop_on_error: bool = True,
        stop_on_halt: bool = True,
    ) -> None:
        """Resume processing relative to where the engine stopped.

        :param obj: ``'prev'``, ``'current'``, ``'next'`` or ``'first'``
            object.
        :param task: ``'prev'``, ``'current'``, ``'next'`` or ``'first'``
            task (in the innermost block of the saved position).
        :param objects: objects to process instead of :attr:`objects`.
        :raises WorkflowError: when ``obj`` or ``task`` is another word.
        :raises WorkflowAPIError: when another thread is running this engine.

        ``restart('current', 'next')`` resumes a halted object after the task
        that halted; ``restart('next', 'first')`` goes on with the next
        object. Called from a task, the new run carries the engine on and the
        task's own run ends when it returns.
        """
        if (
            type(obj) is not str
            or type(task) is not str
            or obj not in OBJECT_MOVES
            or task not in TASK_MOVES
        ):
            check_restart_words(obj, task)
        ident = get_ident()
        attributes = self.__dict__
        # Checked before the state moves, so that the run of the other
        # thread is left as it is.
        outermost = attributes.get(_RUN_OWNER) != ident
        if outermost and attributes.setdefault(_RUN_OWNER, ident) != ident:
            raise busy_error(self)
        try:
            state = self.state
            object_move, task_move = OBJECT_MOVES[obj], TASK_MOVES[task]
            if type(state) is MachineState:
                # Through the slot: the values written here are always valid.
                if object_move is None:
                    state._token_pos = -1
                else:
                    state._token_pos = max(-1, state._token_pos + object_move)
            elif object_move is None:
                state.token_pos = -1
            else:
                state.token_pos = max(-1, state.token_pos + object_move)
            if task_move is None:
                state.callback_pos = [0]
            elif task_move:
                state.callback_pos[-1] += task_move
            self.process(
                objects or self.objects,
                stop_on_error=stop_on_error,
                stop_on_halt=stop_on_halt,
                reset_state=False,
            )
        finally:
            if outermost:
                del attributes[_RUN_OWNER]

    def _handle_transition(
        self, obj: Any, callbacks: Any, factory: Any, run_token: object
    ) -> bool:
        """Run the transition action for the exception being handled.

        Returns whether to leave the object loop. The action may also
        re-raise, which leaves :meth:`process`. An exception from a new run
        that a task started has been handled there: it goes on up as it is.
        """
        if self._run_token is not run_token:
            raise  # the exception the calling except clause is handling
        exc_info = sys.exc_info()
        try:
            # Read here rather than before the loop: most runs raise nothing,
            # and a class property costs two calls.
            actions = factory.transition_exception_mapper
            handler = getattr(actions, exc_info[0].__name__, None)  # type: ignore[union-attr]
            if handler is None:
                handler = actions.Exception
            try:
                handler(obj, self, callbacks, exc_info)
            except Break:
                return True
            except Continue:
                return False
        finally:
            # The traceback holds this frame, which would hold the traceback:
            # drop it so that a halt or an error leaves no reference cycle.
            del exc_info
        self.state.callback_pos = [0]
        return False

    def run_callbacks(
        self, callbacks: Any, objects: Any, obj: Any, indent: int = 0
    ) -> None:
        """Run the definition ``callbacks`` on ``obj`` from ``callback_pos``.

        :param callbacks: the (nested) list of tasks.
        :param objects: the objects being processed.
        :param obj: the current object.
        :param indent: the nesting level ``callbacks`` sits at.
        """
        if self._run_token is None:
            self._run_token = object()
        # The plan of a run in progress is not kept: decide the per-task
        # hooks again, as the run did.
        self._run_tasks(callbacks, obj, self._run_token, self._plan()[7], indent)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} objects={len(self.objects)}"
            f" token_pos={self.state.token_pos}"
            f" callback_pos={self.state.callback_pos}>"
        )


_RUN_OWNER = "_run_owner"
"""The attribute holding the thread that runs the engine, during a run."""

_RUN_STATE = (_RUN_OWNER, "_segment", "_run_token", "_last_shape")
"""Engine attributes a run sets up for itself; they are not pickled (the next
run sets them again)."""

_CLEANUP_CALLABLES = Callbacks.cleanup_callables.__func__  # type: ignore[attr-defined]
_CALLBACK_CHOOSER = GenericWorkflowEngine.callback_chooser
_EXECUTE_CALLBACK = GenericWorkflowEngine.execute_callback
_RUN_CALLBACKS = GenericWorkflowEngine.run_callbacks
_BEFORE_PROCESSING = ProcessingFactory.before_processing
# The default per-object and per-task hooks do nothing: a run plan skips a
# hook that is its default.
_BEFORE_OBJECT = ProcessingFactory.before_object
_AFTER_OBJECT = ProcessingFactory.after_object
_BEFORE_CALLBACKS = ActionMapper.before_callbacks
_AFTER_CALLBACKS = ActionMapper.after_callbacks
_BEFORE_EACH = ActionMapper.before_each_callback
_AFTER_EACH = ActionMapper.after_each_callback
_DEBUG = logging.DEBUG
_new_exception = BaseException.__new__
_AFTER_PROCESSING = ProcessingFactory.after_processing
