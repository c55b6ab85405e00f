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
from typing import Any

from .._loading import DefinitionNotFoundError, definition_tasks, load_definition
from .._pattern import pattern_of
from ..engine import Callbacks
from .errors import UnknownWorkflowError

__all__ = (
    "FINGERPRINT_VERSION",
    "Registry",
    "fingerprint",
    "fingerprint_matches",
    "legacy_fingerprint",
    "registry",
)


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


registry: Registry = Registry()
"""The registry used by :mod:`workflow.storage` unless told otherwise."""


FINGERPRINT_VERSION = 2
"""The format of :func:`fingerprint`; stored values carry it as ``v2:``."""

_PREFIX = f"v{FINGERPRINT_VERSION}:"
# The stored column holds 64 characters: the prefix and most of the digest.
_DIGEST_LENGTH = 64 - len(_PREFIX)


def _callable_name(task: Any) -> Any:
    """The function or class whose qualified name identifies ``task``."""
    target: Any = task
    if not hasattr(target, "__qualname__") and hasattr(target, "func"):
        target = target.func
    if not hasattr(target, "__qualname__"):
        target = type(target)
    return target


class _Describer:
    """Writes the tokens of a definition; one subclass per fingerprint format."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self._ancestors: set[int] = set()

    def item(self, task: Any) -> None:
        if id(task) in self._ancestors:
            # A closure that refers back to a task being described
            # (recursion), or a list that contains itself.
            self.out.append("@")
            return
        self._ancestors.add(id(task))
        try:
            if isinstance(task, (list, tuple)):
                self.out.append("[")
                for item in task:
                    self.item(item)
                self.out.append("]")
            else:
                self.callable(task)
        finally:
            self._ancestors.discard(id(task))

    def cells(self, values: Any) -> None:
        """Describe the tasks and blocks among closure ``values``."""
        for value in values:
            if isinstance(value, (list, tuple)) or callable(value):
                self.out.append("(")
                self.item(value)
                self.out.append(")")

    @staticmethod
    def closure(target: Any) -> list[Any]:
        found = []
        for cell in getattr(target, "__closure__", None) or ():
            try:
                found.append(cell.cell_contents)
            except ValueError:
                continue
        return found

    def callable(self, task: Any) -> None:
        raise NotImplementedError


class _Current(_Describer):
    """Format 2: a pattern task by its description, any other task by its name.

    A pattern task counts as its factory, the values that change how the
    definition moves (jump steps, offsets, a loop's order) and the tasks it
    runs: renaming the patterns' private functions changes nothing. Other
    tasks count as their qualified name and the tasks in their closure.
    """

    def callable(self, task: Any) -> None:
        pattern = pattern_of(task)
        if pattern is not None:
            self.out.append(f"pattern:{pattern.name}{pattern.shape!r}")
            self.cells(pattern.tasks)
            return
        target = _callable_name(task)
        self.out.append(f"{getattr(target, '__module__', '?')}.{target.__qualname__}")
        self.cells(self.closure(target))


class _Legacy(_Describer):
    """The format of 2.2.0: qualified names and the tasks in closures.

    A pattern task whose closure changed since then is described by the
    closure it had (its description's ``legacy``).
    """

    def callable(self, task: Any) -> None:
        target: Any = getattr(task, "__wrapped__", task)
        pattern = pattern_of(target)
        if pattern is not None and pattern.legacy is not None:
            qualname, cells = pattern.legacy
            self.out.append(f"{target.__module__}.{qualname}")
            self.cells(cells)
            return
        target = _callable_name(target)
        self.out.append(f"{getattr(target, '__module__', '?')}.{target.__qualname__}")
        self.cells(self.closure(target))


def _digest(describer: _Describer, definition: Any) -> str:
    describer.item(Callbacks.cleanup_callables(definition))
    return hashlib.sha256(" ".join(describer.out).encode("utf-8")).hexdigest()


def fingerprint(definition: Any) -> str:
    """Return a versioned hash of what ``definition`` runs and how it moves.

    Two definitions get the same fingerprint when they nest the same way,
    run tasks of the same qualified names (and the same tasks in their
    closures), and use the same patterns with the same jumps, offsets and
    loop orders. The pattern tasks count by their description, so a new
    version of this package that renames its private functions keeps the
    fingerprints. Other values captured by closures do not count.

    :param definition: a (nested) list of tasks.
    :returns: ``"v2:"`` followed by 61 hexadecimal digits of a SHA-256.
    """
    return _PREFIX + _digest(_Current(), definition)[:_DIGEST_LENGTH]


def legacy_fingerprint(definition: Any) -> str:
    """Return the fingerprint 2.2.0 stored for ``definition`` (64 hex digits).

    :param definition: a (nested) list of tasks.
    """
    return _digest(_Legacy(), definition)


def fingerprint_matches(stored: str, definition: Any) -> bool:
    """Whether ``stored`` is the fingerprint of ``definition``, in its format.

    A value without a version is one stored by 2.2.0: it is compared with
    :func:`legacy_fingerprint`.

    :param stored: a fingerprint saved with a workflow.
    :param definition: the definition it is checked against.
    """
    if stored.startswith(_PREFIX):
        return stored == fingerprint(definition)
    if ":" in stored:
        # A format this version does not know (a newer one).
        return False
    return stored == legacy_fingerprint(definition)
