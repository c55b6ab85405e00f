"""Shared helpers for the pattern tests: recording tasks and engine classes."""

from __future__ import annotations

import threading
from typing import Any, Callable

from workflow.engine import GenericWorkflowEngine


class Recorder:
    """Makes tasks that record ``(obj, name)`` into one thread-safe list."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, str]] = []
        self._lock = threading.Lock()

    def task(
        self, name: str, action: Callable[[Any, Any], Any] | None = None
    ) -> Callable[[Any, Any], Any]:
        """A task named ``name`` that records itself, then runs ``action``."""

        def run(obj: Any, eng: Any) -> Any:
            with self._lock:
                self.calls.append((_label(obj), name))
            if action is not None:
                return action(obj, eng)
            return None

        run.__name__ = run.__qualname__ = name
        return run

    def names(self) -> list[str]:
        """The recorded task names, in order."""
        return [name for _, name in self.calls]


def _label(obj: Any) -> Any:
    if isinstance(obj, dict):
        return obj.get("id", "obj")
    if isinstance(obj, list):
        return tuple(obj)
    return obj


class HookedEngine(GenericWorkflowEngine):
    """Overrides ``execute_callback``, so the engine calls every task itself.

    Control tasks then raise through ``jump_call``/``break_current_loop``
    instead of handing their decision to the lean loop.
    """

    def __init__(self) -> None:
        super().__init__()
        self.executed: list[str] = []

    def execute_callback(self, callback: Any, obj: Any) -> None:
        """Record the task's name, then run it."""
        self.executed.append(getattr(callback, "__name__", repr(callback)))
        super().execute_callback(callback, obj)


class CountingEngine(GenericWorkflowEngine):
    """Counts calls of the raising control methods (the lean loop makes none)."""

    def __init__(self) -> None:
        super().__init__()
        self.raised: list[str] = []

    def jump_call(self, offset: int) -> Any:
        """Count, then jump."""
        self.raised.append(f"jump_call({offset})")
        super().jump_call(offset)

    def break_current_loop(self) -> Any:
        """Count, then break."""
        self.raised.append("break_current_loop()")
        super().break_current_loop()


class CountingHookedEngine(CountingEngine):
    """A counting engine that also overrides ``execute_callback``."""

    def execute_callback(self, callback: Any, obj: Any) -> None:
        """Run the task as the base engine does."""
        callback(obj, self)


ENGINE_CLASSES = [GenericWorkflowEngine, HookedEngine]
ENGINE_IDS = ["lean", "hooked"]


def run(engine_class: type, definition: list[Any], objects: list[Any]) -> Any:
    """Run ``definition`` over ``objects`` in a new engine; return the engine."""
    eng = engine_class()
    eng.callbacks.replace(definition)
    eng.process(objects)
    return eng
