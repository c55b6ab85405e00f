"""The configurations a run must behave the same under (issue 14).

Each is an engine class; the tasks of a definition must see exactly the same
run under every one of them:

``plain``
    no hook at all;
``execute_callback``
    a subclass overriding :meth:`execute_callback` (calling the default);
``hooks``
    an :class:`ActionMapper` whose hooks around each task and object count
    their calls (on the engine, outside ``extra_data``);
``debug``
    an engine whose logger is enabled for ``DEBUG``;
``actions``
    a :class:`TransitionActions` subclass whose every handler defers to the
    default one;
``observed``
    an engine with receivers of the per-object and per-task signals of
    :mod:`workflow.signals`, connected for that engine only, recording what
    they receive on the engine (outside ``extra_data``).
"""

from __future__ import annotations

import logging
from typing import Any

from workflow import signals
from workflow.engine import (
    ActionMapper,
    GenericWorkflowEngine,
    ProcessingFactory,
    TransitionActions,
)
from workflow.utils import classproperty


class ExecuteCallbackOverride(GenericWorkflowEngine):
    """Overrides :meth:`execute_callback`, deferring to the default."""

    def execute_callback(self, callback: Any, obj: Any) -> None:
        """Run the task as the base class does."""
        super().execute_callback(callback, obj)


def _count(eng: Any, name: str) -> None:
    counts = eng.__dict__.setdefault("hook_counts", {})
    counts[name] = counts.get(name, 0) + 1


class CountingMapper(ActionMapper):
    """Counts every hook call on the engine (``eng.hook_counts``)."""

    @staticmethod
    def before_callbacks(obj: Any, eng: Any) -> None:
        """Count the call."""
        _count(eng, "before_callbacks")

    @staticmethod
    def after_callbacks(obj: Any, eng: Any) -> None:
        """Count the call."""
        _count(eng, "after_callbacks")

    @staticmethod
    def before_each_callback(eng: Any, callback: Any, obj: Any) -> None:
        """Count the call."""
        _count(eng, "before_each_callback")

    @staticmethod
    def after_each_callback(eng: Any, callback: Any, obj: Any) -> None:
        """Count the call."""
        _count(eng, "after_each_callback")


class CountingFactory(ProcessingFactory):
    """A processing factory with the :class:`CountingMapper`."""

    @classproperty
    def action_mapper(cls) -> Any:
        """:class:`CountingMapper`."""
        return CountingMapper


class HookedEngine(GenericWorkflowEngine):
    """An engine whose action mapper has hooks around each task."""

    @classproperty
    def processing_factory(cls) -> Any:
        """:class:`CountingFactory`."""
        return CountingFactory


class DebugLoggingEngine(GenericWorkflowEngine):
    """An engine whose own logger is enabled for ``DEBUG``."""


DebugLoggingEngine().log.setLevel(logging.DEBUG)


def _deferring(name: str) -> Any:
    def handler(obj: Any, eng: Any, callbacks: Any, exc_info: Any) -> None:
        getattr(TransitionActions, name)(obj, eng, callbacks, exc_info)

    handler.__name__ = name
    return staticmethod(handler)


DeferringActions = type(
    "DeferringActions",
    (TransitionActions,),
    {
        name: _deferring(name)
        for name in (
            "StopProcessing",
            "HaltProcessing",
            "ContinueNextToken",
            "JumpToken",
            "JumpTokenForward",
            "JumpTokenBack",
            "SkipToken",
            "AbortProcessing",
            "Exception",
        )
    },
)
"""A :class:`TransitionActions` subclass whose every handler calls the default."""


class DeferringFactory(ProcessingFactory):
    """A processing factory with the :data:`DeferringActions`."""

    @classproperty
    def transition_exception_mapper(cls) -> Any:
        """:data:`DeferringActions`."""
        return DeferringActions


class DeferringActionsEngine(GenericWorkflowEngine):
    """An engine whose transition actions defer to the defaults."""

    @classproperty
    def processing_factory(cls) -> Any:
        """:class:`DeferringFactory`."""
        return DeferringFactory


def _receiver(name: str) -> Any:
    def receive(eng: Any, **kwargs: Any) -> None:
        eng.__dict__.setdefault("observed", []).append((name, kwargs))

    return receive


_RECEIVERS = {
    name: _receiver(name)
    for name in ("object_started", "object_finished", "task_finished")
}


class ObservedEngine(GenericWorkflowEngine):
    """An engine whose per-object and per-task signals have receivers.

    They are connected for this engine (the sender) only, and record each
    signal's name and keyword arguments in ``eng.observed``.
    """

    def __init__(self) -> None:
        super().__init__()
        for name, receive in _RECEIVERS.items():
            getattr(signals, name).connect(receive, sender=self, weak=False)


CONFIGURATIONS: dict[str, type[GenericWorkflowEngine]] = {
    "plain": GenericWorkflowEngine,
    "execute_callback": ExecuteCallbackOverride,
    "hooks": HookedEngine,
    "debug": DebugLoggingEngine,
    "actions": DeferringActionsEngine,
    "observed": ObservedEngine,
}
"""The engine class of each configuration, by name."""
