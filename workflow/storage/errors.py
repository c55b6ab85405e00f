"""Errors raised by :mod:`workflow.storage`.

All derive from :class:`workflow.errors.WorkflowAPIError`, keep their
arguments as attributes and survive pickling (they cross process boundaries
in task queues).
"""

from __future__ import annotations

from typing import Any

from ..errors import WorkflowAPIError

__all__ = (
    "AmbiguousUuidError",
    "DefinitionChangedError",
    "SchemaVersionError",
    "UnknownWorkflowError",
    "UnserializableDataError",
    "WorkflowBusyError",
    "WorkflowExistsError",
    "WorkflowNotFoundError",
)


class _StorageError(WorkflowAPIError):
    """Base of the storage errors: a message plus named attributes."""

    _fields: tuple[str, ...] = ()

    def __init__(self, message: str, *values: Any) -> None:
        super().__init__(message)
        for field, value in zip(self._fields, values):
            setattr(self, field, value)
        for field in self._fields[len(values) :]:
            setattr(self, field, None)

    def __reduce__(self) -> tuple[Any, ...]:
        values = tuple(getattr(self, field) for field in self._fields)
        return (type(self), (self.message, *values), self.__dict__)

    def __str__(self) -> str:
        return self.message


class UnknownWorkflowError(_StorageError):
    """No workflow definition is registered (or importable) under a name.

    :param message: what was looked up and what to do about it.
    :param name: the unknown name.
    """

    _fields = ("name",)


class WorkflowNotFoundError(_StorageError):
    """No stored workflow has the given uuid.

    :param message: what was looked up.
    :param uuid: the unknown uuid.
    """

    _fields: tuple[str, ...] = ("uuid",)


class WorkflowBusyError(_StorageError):
    """Another process is running the workflow, or took it over.

    :param message: what was refused, why, and what to do about it.
    :param uuid: the workflow's uuid.
    :param heartbeat: when the run holding the workflow last showed it was
        alive (an aware UTC datetime), when it is RUNNING; else ``None``.
    :param lease_expires: when that run counts as dead, so that
        ``take_over=True`` may take the workflow over; else ``None``.
    """

    _fields = ("uuid", "heartbeat", "lease_expires")
    uuid: str
    heartbeat: Any
    lease_expires: Any


class WorkflowExistsError(_StorageError):
    """A new workflow was given the uuid of a stored one.

    :param message: which uuid, and what to do.
    :param uuid: the uuid asked for.
    """

    _fields = ("uuid",)
    uuid: str


class DefinitionChangedError(_StorageError):
    """The workflow's definition changed since the workflow was saved.

    :param message: which workflow, and how to go on anyway.
    :param uuid: the workflow's uuid.
    :param name: the workflow's definition name.
    """

    _fields = ("uuid", "name")


class UnserializableDataError(_StorageError):
    """Data handed to the storage cannot be saved as JSON.

    :param message: where the bad value is and what type it has.
    :param path: where the bad value sits, e.g. ``data[2]['when']``.
    """

    _fields = ("path",)


class AmbiguousUuidError(WorkflowNotFoundError):
    """The start of a uuid matches more than one stored workflow.

    :param message: the prefix and the workflows it matches.
    :param uuid: the prefix as given.
    :param candidates: the uuids it matches (at most the first few).
    """

    _fields = ("uuid", "candidates")


class SchemaVersionError(_StorageError):
    """The database's schema is not the one this version of the package uses.

    Raised when a store is first used, and by the ``workflow db`` commands,
    for a database behind the code (upgrade it) or ahead of it (upgrade the
    package, or downgrade the database with the newer package).

    :param message: both revisions, and the command that fixes it.
    :param current: the database's revision (``None`` for a database made by
        workflow 2.2.0, which has no version table).
    :param head: the revision this version of the package uses.
    """

    _fields = ("current", "head")
