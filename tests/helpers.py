"""Recording helpers shared by the engine tests.

Tasks made here append ``(obj, task_name)`` to ``eng.extra_data["trace"]``,
so a test can compare the exact sequence of tasks an engine ran.
"""

from __future__ import annotations

from typing import Any, Callable

from workflow.engine import (
    ActionMapper,
    GenericWorkflowEngine,
    ProcessingFactory,
    TransitionActions,
)
from workflow.utils import classproperty

Action = Callable[[Any, GenericWorkflowEngine], Any]


def trace_of(eng: GenericWorkflowEngine) -> list[tuple[Any, str]]:
    """Return the ``(obj, task_name)`` pairs recorded on ``eng`` so far."""
    return eng.extra_data.setdefault("trace", [])


def task(name: str, action: Action | None = None) -> Action:
    """Return a task named ``name`` that records itself, then runs ``action``.

    :param name: the task's ``__name__`` and the name recorded in the trace.
    :param action: called as ``action(obj, eng)`` after recording.
    """

    def run(obj: Any, eng: GenericWorkflowEngine) -> Any:
        trace_of(eng).append((obj, name))
        if action is not None:
            return action(obj, eng)
        return None

    run.__name__ = run.__qualname__ = name
    return run


def once(key: str, action: Action) -> Action:
    """Return an action that runs ``action`` only the first time it is called.

    The flag lives in ``eng.extra_data`` under ``key``, so each engine has
    its own.
    """

    def run(obj: Any, eng: GenericWorkflowEngine) -> Any:
        if eng.extra_data.get(key):
            return None
        eng.extra_data[key] = True
        return action(obj, eng)

    return run


def on(target: Any, action: Action) -> Action:
    """Return an action that runs ``action`` only for the object ``target``."""

    def run(obj: Any, eng: GenericWorkflowEngine) -> Any:
        if obj == target:
            return action(obj, eng)
        return None

    return run


class ExecuteCallbackEngine(GenericWorkflowEngine):
    """An engine overriding :meth:`execute_callback`, which forces the hooked path.

    It records every task it is handed in ``extra_data["executed"]``.
    """

    def execute_callback(self, callback: Action, obj: Any) -> None:
        """Record the task's name, then run it as the base engine does."""
        self.extra_data.setdefault("executed", []).append(
            (obj, getattr(callback, "__name__", callback))
        )
        super().execute_callback(callback, obj)


ENGINE_CLASSES = [GenericWorkflowEngine, ExecuteCallbackEngine]
"""The engine with the lean task loop and one that needs the hooked loop."""

ENGINE_IDS = ["lean", "hooked"]


def calls_of(eng: GenericWorkflowEngine) -> list[tuple[Any, ...]]:
    """Return the hook calls recorded on ``eng`` by the recording classes."""
    return eng.extra_data.setdefault("calls", [])


def _name(task_: Any) -> str:
    return getattr(task_, "__name__", repr(task_))


class RecordingMapper(ActionMapper):
    """An :class:`ActionMapper` recording each hook call, then calling super()."""

    @classmethod
    def before_callbacks(cls, obj: Any, eng: GenericWorkflowEngine) -> None:
        """Record ``("before_callbacks", obj)``."""
        calls_of(eng).append(("before_callbacks", obj))
        super().before_callbacks(obj, eng)

    @classmethod
    def after_callbacks(cls, obj: Any, eng: GenericWorkflowEngine) -> None:
        """Record ``("after_callbacks", obj)``."""
        calls_of(eng).append(("after_callbacks", obj))
        super().after_callbacks(obj, eng)

    @classmethod
    def before_each_callback(
        cls, eng: GenericWorkflowEngine, callback: Any, obj: Any
    ) -> None:
        """Record ``("before_each", task_name, obj)``."""
        calls_of(eng).append(("before_each", _name(callback), obj))
        super().before_each_callback(eng, callback, obj)

    @classmethod
    def after_each_callback(
        cls, eng: GenericWorkflowEngine, callback: Any, obj: Any
    ) -> None:
        """Record ``("after_each", task_name, obj)``."""
        calls_of(eng).append(("after_each", _name(callback), obj))
        super().after_each_callback(eng, callback, obj)


class RecordingActions(TransitionActions):
    """A :class:`TransitionActions` recording each handler call, then super()."""

    @classmethod
    def _record(cls, name: str, obj: Any, eng: GenericWorkflowEngine) -> None:
        calls_of(eng).append((name, obj))

    @classmethod
    def StopProcessing(cls, obj, eng, callbacks, exc_info):  # noqa: N802
        """Record ``("StopProcessing", obj)``."""
        cls._record("StopProcessing", obj, eng)
        super().StopProcessing(obj, eng, callbacks, exc_info)

    @classmethod
    def HaltProcessing(cls, obj, eng, callbacks, exc_info):  # noqa: N802
        """Record ``("HaltProcessing", obj)``."""
        cls._record("HaltProcessing", obj, eng)
        super().HaltProcessing(obj, eng, callbacks, exc_info)

    @classmethod
    def SkipToken(cls, obj, eng, callbacks, exc_info):  # noqa: N802
        """Record ``("SkipToken", obj)``."""
        cls._record("SkipToken", obj, eng)
        super().SkipToken(obj, eng, callbacks, exc_info)

    @classmethod
    def ContinueNextToken(cls, obj, eng, callbacks, exc_info):  # noqa: N802
        """Record ``("ContinueNextToken", obj)``."""
        cls._record("ContinueNextToken", obj, eng)
        super().ContinueNextToken(obj, eng, callbacks, exc_info)

    @classmethod
    def JumpToken(cls, obj, eng, callbacks, exc_info):  # noqa: N802
        """Record ``("JumpToken", obj)``."""
        cls._record("JumpToken", obj, eng)
        super().JumpToken(obj, eng, callbacks, exc_info)

    @classmethod
    def Exception(cls, obj, eng, callbacks, exc_info):  # noqa: N802
        """Record ``("Exception", obj, exception class name)``."""
        calls_of(eng).append(("Exception", obj, exc_info[0].__name__))
        super().Exception(obj, eng, callbacks, exc_info)


class RecordingFactory(ProcessingFactory):
    """A :class:`ProcessingFactory` recording each hook call, then super()."""

    @classproperty
    def action_mapper(cls) -> Any:
        """The :class:`RecordingMapper`."""
        return RecordingMapper

    @classproperty
    def transition_exception_mapper(cls) -> Any:
        """The :class:`RecordingActions`."""
        return RecordingActions

    @classmethod
    def before_processing(cls, eng: GenericWorkflowEngine, objects: Any) -> None:
        """Record ``("before_processing",)``."""
        calls_of(eng).append(("before_processing",))
        super().before_processing(eng, objects)

    @classmethod
    def after_processing(cls, eng: GenericWorkflowEngine, objects: Any) -> None:
        """Record ``("after_processing",)``."""
        calls_of(eng).append(("after_processing",))
        super().after_processing(eng, objects)

    @classmethod
    def before_object(cls, eng: GenericWorkflowEngine, objects: Any, obj: Any) -> None:
        """Record ``("before_object", obj)``."""
        calls_of(eng).append(("before_object", obj))
        super().before_object(eng, objects, obj)

    @classmethod
    def after_object(cls, eng: GenericWorkflowEngine, objects: Any, obj: Any) -> None:
        """Record ``("after_object", obj)``."""
        calls_of(eng).append(("after_object", obj))
        super().after_object(eng, objects, obj)


class RecordingEngine(GenericWorkflowEngine):
    """An engine whose factory, mapper and actions record every hook call."""

    @classproperty
    def processing_factory(cls) -> Any:
        """The :class:`RecordingFactory`."""
        return RecordingFactory
