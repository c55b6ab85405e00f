"""Named workflow definitions, so that any process can rebuild an engine.

A stored workflow keeps only the *name* of its definition. Whichever process
resumes it looks the name up in :data:`registry`. Register definitions at
import time of a module every process imports, or name them by import path
(``"package.module:attribute"`` or ``"path/to/file.py:attribute"``) so that
the registry imports them on demand.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any, Callable

from .._loading import DefinitionNotFoundError, definition_tasks, load_definition
from ..engine import Callbacks
from .errors import UnknownWorkflowError

__all__ = ("Registry", "fingerprint", "registry")


class Registry:
    """A mapping of names to workflow definitions.

    A definition is a list of tasks, or (Invenio style) a class whose
    ``workflow`` attribute holds that list. Names shaped like import paths,
    ``"package.module:attribute"`` or ``"path/to/file.py:attribute"``, need no
    registration: :meth:`get` imports them on first use and caches them.
    """

    def __init__(self) -> None:
        self._definitions: dict[str, Any] = {}
        self._lock = threading.Lock()

    def register(self, name: str, definition: Any = None) -> Any:
        """Register ``definition`` under ``name``; replaces an earlier one.

        Called with the name only, returns a class decorator::

            @registry.register("grading")
            class Grading:
                workflow = [check_grade, notify]

        :param name: the name stored with each workflow of this definition.
        :param definition: a list of tasks, or a class with a ``workflow``
            list.
        :returns: ``definition`` (or the decorator).
        :raises WorkflowDefinitionError: when the definition is not a list of
            tasks.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(
                f"A workflow name must be a non-empty str, not {name!r}"
                " (it is saved with every workflow of the definition)"
            )
        if definition is None:

            def decorate(cls: Any) -> Any:
                self.register(name, cls)
                return cls

            return decorate
        definition_tasks(name, definition)
        with self._lock:
            self._definitions[name] = definition
        return definition

    def get(self, name: str) -> list[Any]:
        """Return the task list registered (or importable) under ``name``.

        :raises UnknownWorkflowError: when ``name`` is neither registered nor
            an importable ``module:attribute`` / ``file.py:attribute`` path.
        """
        definition = self._definitions.get(name)
        if definition is None:
            definition = self._import(name)
        return definition_tasks(name, definition)

    def names(self) -> list[str]:
        """Return the registered names (and the imported ones), sorted."""
        return sorted(self._definitions)

    def __contains__(self, name: object) -> bool:
        return name in self._definitions

    def _import(self, name: str) -> Any:
        if not isinstance(name, str) or ":" not in name:
            raise UnknownWorkflowError(
                f"No workflow definition is registered under {name!r}. Registered:"
                f" {', '.join(self.names()) or 'none'}. Register it with"
                " workflow.storage.registry.register(name, definition) in a module"
                " every process imports, or name it by import path"
                " ('package.module:attribute' or 'path/to/file.py:attribute')",
                name,
            )
        try:
            definition = load_definition(name)
        except DefinitionNotFoundError as exc:
            raise UnknownWorkflowError(
                f"Cannot load the workflow definition {name!r}: {exc.message}",
                name,
            ) from exc
        definition_tasks(name, definition)
        with self._lock:
            self._definitions.setdefault(name, definition)
        return self._definitions[name]


registry = Registry()
"""The registry used by :mod:`workflow.storage` unless told otherwise."""


def _describe_task(task: Any, ancestors: set[int], out: list[str]) -> None:
    if id(task) in ancestors:
        # A closure that refers back to a task being described (recursion),
        # or a list that contains itself.
        out.append("@")
        return
    ancestors.add(id(task))
    try:
        if isinstance(task, (list, tuple)):
            out.append("[")
            for item in task:
                _describe_task(item, ancestors, out)
            out.append("]")
        else:
            _describe_callable(task, ancestors, out)
    finally:
        ancestors.discard(id(task))


def _describe_callable(task: Any, ancestors: set[int], out: list[str]) -> None:
    # Control-flow patterns are closures (or wrappers around one): what they
    # run lives in their closure cells, so those are part of the structure.
    target: Callable[..., Any] = getattr(task, "__wrapped__", task)
    if not hasattr(target, "__qualname__") and hasattr(target, "func"):
        target = target.func
    if not hasattr(target, "__qualname__"):
        target = type(target)
    out.append(f"{getattr(target, '__module__', '?')}.{target.__qualname__}")
    cells = getattr(target, "__closure__", None) or ()
    for cell in cells:
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        if isinstance(value, (list, tuple)) or callable(value):
            out.append("(")
            _describe_task(value, ancestors, out)
            out.append(")")


def fingerprint(definition: Any) -> str:
    """Return a hash of the structure of ``definition`` and its tasks' names.

    Two definitions get the same fingerprint when they nest the same way and
    run tasks of the same qualified names (including the tasks inside the
    closures of control-flow patterns such as ``IF``). Values captured by
    closures (numbers, strings) do not count.

    :param definition: a (nested) list of tasks.
    """
    out: list[str] = []
    _describe_task(Callbacks.cleanup_callables(definition), set(), out)
    return hashlib.sha256(" ".join(out).encode("utf-8")).hexdigest()
