"""Importing the module that a definition name points at.

Definitions are named by import path, ``package.module:attribute`` or
``path/to/file.py:attribute``, so that another process can load the same
definition. A file is imported under a module name derived from its absolute
path: every process then gives its tasks the same qualified names, which the
storage's definition fingerprint depends on. The storage registry and the
command line share this code so that they can never disagree on that name.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from types import ModuleType

__all__ = ("NotAPythonFileError", "file_module_name", "import_file", "is_file_path")


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


def import_file(path: str) -> ModuleType:
    """Import the Python file at ``path`` once per process and return it.

    :raises NotAPythonFileError: when the file cannot be imported as a module.
    :raises Exception: whatever executing the module raises; the half-made
        module is then forgotten, so a later call tries again.
    """
    absolute = os.path.abspath(path)
    name = file_module_name(absolute)
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
