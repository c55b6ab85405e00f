"""Loading a workflow definition from its name: one loader for every entry point.

Definitions are named by import path, ``package.module:attribute`` or
``path/to/file.py:attribute``, so that another process can load the same
definition. A file is imported under a module name derived from its absolute
path: every process then gives its tasks the same qualified names, which the
storage's definition fingerprint depends on. The storage registry and the
command line load names through :func:`load_definition` and check what they
got with :func:`definition_tasks`, so they accept, name and refuse exactly
the same definitions.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from types import ModuleType
from typing import Any

from .engine import Callbacks
from .errors import WorkflowDefinitionError

__all__ = (
    "DefinitionNotFoundError",
    "NotAPythonFileError",
    "absolute_name",
    "definition_tasks",
    "file_module_name",
    "import_file",
    "import_module",
    "is_file_path",
    "load_definition",
    "split_name",
)


class NotAPythonFileError(ImportError):
    """The path names a file that Python cannot import as a module."""


def is_file_path(module_part: str) -> bool:
    """Whether the module part of a definition name is a file path."""
    return (
        module_part.endswith(".py")
        or os.sep in module_part
        or (os.altsep is not None and os.altsep in module_part)
    )


def file_module_name(absolute: str) -> str:
    """The module name a definition file at ``absolute`` is imported under."""
    digest = hashlib.sha1(absolute.encode("utf-8")).hexdigest()[:16]
    return "_workflow_definitions_" + digest


def import_file(path: str, module_name: str | None = None) -> ModuleType:
    """Import the Python file at ``path`` once per process and return it.

    :param path: the file.
    :param module_name: the name to import it under; by default
        :func:`file_module_name` of its absolute path. A file that moved is
        imported under the name of its old path, so that its tasks keep
        their qualified names (and the definition its fingerprint).
    :raises NotAPythonFileError: when the file cannot be imported as a module.
    :raises BaseException: whatever executing the module raises; the
        half-made module is then forgotten, so a later call tries again.
    """
    absolute = os.path.abspath(path)
    name = module_name or file_module_name(absolute)
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(name, absolute)
    if spec is None or spec.loader is None:
        raise NotAPythonFileError(f"{path!r} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


class DefinitionNotFoundError(WorkflowDefinitionError):
    """A definition name that does not lead to a definition.

    The name is malformed, its module or file cannot be imported, or the
    module has no such attribute. The message says which, and what to do.

    :param message: what is wrong.
    :param workflow_name: the name.
    """

    def __init__(self, message: str, workflow_name: str) -> None:
        super().__init__(message, workflow_name)


def split_name(name: str) -> tuple[str, str]:
    """Split ``"module:attribute"`` (or ``"file.py:attribute"``) in two.

    :raises DefinitionNotFoundError: when either part is missing.
    """
    module_part, _, attribute = name.rpartition(":")
    if not module_part or not attribute:
        raise DefinitionNotFoundError(
            f"definition {name!r} must be 'package.module:attribute' or"
            " 'path/to/file.py:attribute'",
            name,
        )
    return module_part, attribute


def absolute_name(name: str) -> str:
    """``name`` with its file path made absolute, as it is saved with workflows.

    Another process, in another directory, then imports the same file.
    """
    module_part, attribute = split_name(name)
    if is_file_path(module_part):
        return f"{os.path.abspath(module_part)}:{attribute}"
    return name


def _exception_line(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        # A module that exits at import stops nobody's process but its own.
        code = "" if exc.code is None else repr(exc.code)
        return f"it called sys.exit({code})"
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def import_module(module_part: str, name: str | None = None) -> ModuleType:
    """Import a module by its dotted name, for the definition ``name``.

    :raises DefinitionNotFoundError: when it cannot be found, or importing it
        raises (a call of ``sys.exit()`` included).
    """
    shown = name or module_part
    try:
        return importlib.import_module(module_part)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (
            module_part == exc.name or module_part.startswith(exc.name + ".")
        ):
            raise DefinitionNotFoundError(
                f"cannot import module {module_part!r}: no module named"
                f" {exc.name!r} (is it installed, or in the current directory?)",
                shown,
            ) from exc
        raise DefinitionNotFoundError(
            f"error while importing {module_part!r}: {_exception_line(exc)}", shown
        ) from exc
    except (Exception, SystemExit) as exc:
        raise DefinitionNotFoundError(
            f"error while importing {module_part!r}: {_exception_line(exc)}", shown
        ) from exc


def _import_definition_file(
    module_part: str, name: str, module_name: str | None
) -> ModuleType:
    if not os.path.isfile(module_part):
        raise DefinitionNotFoundError(
            f"definition file {module_part!r} does not exist", name
        )
    try:
        return import_file(module_part, module_name)
    except NotAPythonFileError as exc:
        raise DefinitionNotFoundError(
            f"definition file {module_part!r} is not a Python file", name
        ) from exc
    except (Exception, SystemExit) as exc:
        raise DefinitionNotFoundError(
            f"error while loading {module_part!r}: {_exception_line(exc)}", name
        ) from exc


def load_definition(name: str, *, module_name: str | None = None) -> Any:
    """Import the object that the definition name ``name`` points at.

    :param name: ``"package.module:attribute"`` or
        ``"path/to/file.py:attribute"``; the attribute may be dotted
        (``"module:Class.workflow"``).
    :param module_name: for a file, the module name to import it under
        (see :func:`import_file`).
    :returns: the attribute, unchecked (see :func:`definition_tasks`).
    :raises DefinitionNotFoundError: naming what is wrong with ``name``.
    """
    module_part, attribute = split_name(name)
    if is_file_path(module_part):
        value: Any = _import_definition_file(module_part, name, module_name)
    else:
        value = import_module(module_part, name)
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise DefinitionNotFoundError(
                f"{module_part!r} has no attribute {attribute!r}", name
            ) from None
    return value


def definition_tasks(name: str, definition: Any) -> list[Any]:
    """Return the task list of ``definition``: a list, or a class holding one.

    :param name: the definition's name, for the messages.
    :param definition: a list (or tuple) of tasks, or an object whose
        ``workflow`` attribute is one.
    :raises WorkflowDefinitionError: when it is none of those, is empty, or
        holds an item that is neither a task nor a list of tasks.
    """
    tasks = definition
    if not isinstance(tasks, (list, tuple)):
        tasks = getattr(definition, "workflow", None)
    if not isinstance(tasks, (list, tuple)):
        raise WorkflowDefinitionError(
            f"the definition {name!r} is {type(definition).__name__}"
            f" {definition!r:.60}, not a workflow definition: point at a list of"
            " tasks, or at a class whose `workflow` attribute is one",
            name,
        )
    if not tasks:
        raise WorkflowDefinitionError(
            f"the definition {name!r} is empty: give it at least one task", name
        )
    try:
        Callbacks().replace(tasks)
    except TypeError as exc:
        raise WorkflowDefinitionError(
            f"the definition {name!r} is not valid: {exc}", name
        ) from exc
    return list(tasks)
