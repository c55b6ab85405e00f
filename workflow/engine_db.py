"""An engine that records its progress through a database object.

:class:`DbWorkflowEngine` is a :class:`~workflow.engine.GenericWorkflowEngine`
that tells a *database object* (``db_obj``, any object with a ``save`` method
and a few attributes) whenever the workflow or one of its objects changes
status. It does not depend on any database library: the application brings
its own models. :mod:`workflow.storage` is a ready-made SQLAlchemy storage
built on top of it.

What the engine expects from ``db_obj``:

* ``name``, ``status``, ``uuid`` and ``objects`` (the stored objects);
* ``save(status)``, called with a :class:`WorkflowStatus` or ``None``.

What it expects from each object it processes:

* ``status`` and ``known_statuses`` (an enum like :class:`ObjectStatus`
  offering at least ``INITIAL``, ``COMPLETED``, ``HALTED``, ``RUNNING`` and
  ``ERROR``);
* ``save(status=None, callback_pos=None, id_workflow=None)``;
* ``set_error_message(text)``.
"""

from __future__ import annotations

import logging
import traceback
from enum import Enum
from typing import Any, NoReturn

from ._observe import task_at
from .engine import (
    GenericWorkflowEngine,
    ProcessingFactory,
    TransitionActions,
)
from .errors import WorkflowError
from .utils import classproperty

__all__ = (
    "DbProcessingFactory",
    "DbTransitionAction",
    "DbWorkflowEngine",
    "EnumLabel",
    "ObjectStatus",
    "WorkflowStatus",
)


class EnumLabel(Enum):
    """An :class:`~enum.Enum` whose members carry a human-readable ``label``.

    Subclasses define their members and a ``labels`` class property mapping
    each member's value to its text (a plain dict in the class body would
    become a member itself)::

        class ObjectStatus(EnumLabel):
            INITIAL = 0
            WAITING = 5

            @classproperty
            def labels(cls):
                return {0: "New", 5: "Waiting"}

        ObjectStatus.WAITING.label  # 'Waiting'

    A member whose value has no label makes the class definition fail.
    """

    def __init__(self, *args: Any) -> None:
        labels = type(self).labels
        if self._value_ not in labels:
            raise ValueError(
                f"{type(self).__name__}.{self._name_} (value {self._value_!r}) has"
                " no label: add it to the class's `labels` mapping"
            )
        self.label: str = labels[self._value_]

    @classproperty
    def labels(cls) -> dict[Any, str]:
        """Map each member's value to its label; subclasses define it."""
        return {}


class WorkflowStatus(EnumLabel):
    """The statuses a stored workflow goes through."""

    NEW = 0
    RUNNING = 1
    HALTED = 2
    ERROR = 3
    COMPLETED = 4

    @classproperty
    def labels(cls) -> dict[int, str]:
        """Label of each status value."""
        return {0: "New", 1: "Running", 2: "Halted", 3: "Error", 4: "Completed"}


class ObjectStatus(EnumLabel):
    """The statuses a stored object goes through."""

    INITIAL = 0
    COMPLETED = 1
    HALTED = 2
    RUNNING = 3
    ERROR = 4

    @classproperty
    def labels(cls) -> dict[int, str]:
        """Label of each status value."""
        return {0: "New", 1: "Done", 2: "Need action", 3: "In process", 4: "Error"}


def _log_halt(eng: Any, callbacks: Any, halt: BaseException) -> None:
    """Log a halt as a stored engine does: a warning with the engine's fields.

    Shared with :mod:`workflow.storage`, whose transition actions save
    differently but log the same record.
    """
    log = eng.log
    if log.isEnabledFor(logging.WARNING):
        log.warning(
            "Workflow %r halted at task %s with message: %s",
            eng.name,
            eng.current_taskname,
            getattr(halt, "message", halt),
            extra=eng.log_fields(task_at(callbacks, eng.state.callback_pos)),
        )


def _log_failure(eng: Any, callbacks: Any, traceback_text: str) -> None:
    """Log a task's error as a stored engine does: an error with the traceback."""
    log = eng.log
    if log.isEnabledFor(logging.ERROR):
        log.error(
            "Workflow %r failed on object %s:\n%s",
            eng.name,
            eng.state.token_pos,
            traceback_text,
            extra=eng.log_fields(task_at(callbacks, eng.state.callback_pos)),
        )


def _raise_failure(eng: Any, traceback_text: str, error: BaseException) -> NoReturn:
    """Send ``workflow_error`` and raise the task's error as a stored engine does.

    Shared with :mod:`workflow.storage`, whose transition actions save the
    error differently but end the same way.
    """
    eng.signal.workflow_error(eng)
    raise WorkflowError(
        message=traceback_text,
        id_workflow=eng.uuid,
        id_object=eng.state.token_pos,
    ) from error


class DbTransitionAction(TransitionActions):
    """Transition actions that save the object and workflow on halt and error."""

    @staticmethod
    def HaltProcessing(obj: Any, eng: Any, callbacks: Any, exc_info: Any) -> None:
        """Save the object as halted and the workflow as halted, then re-raise.

        The object keeps the task position it halted at (``callback_pos``),
        so that the workflow can be restarted from there.
        """
        obj.save(
            status=obj.known_statuses.HALTED,
            callback_pos=list(eng.state.callback_pos),
            id_workflow=eng.uuid,
        )
        eng.save(WorkflowStatus.HALTED)
        _log_halt(eng, callbacks, exc_info[1])
        TransitionActions.HaltProcessing(obj, eng, callbacks, exc_info)

    @staticmethod
    def Exception(obj: Any, eng: Any, callbacks: Any, exc_info: Any) -> None:
        """Save the error on the object and the workflow, then raise it wrapped.

        :raises WorkflowError: always; its message is the formatted traceback,
            ``id_workflow`` the workflow's uuid and ``id_object`` the object's
            position. It is chained from the task's exception (``__cause__``).
        """
        traceback_text = "".join(traceback.format_exception(*exc_info))
        _log_failure(eng, callbacks, traceback_text)
        obj.set_error_message(traceback_text)
        obj.save(
            status=obj.known_statuses.ERROR,
            callback_pos=list(eng.state.callback_pos),
            id_workflow=eng.uuid,
        )
        eng.save(WorkflowStatus.ERROR)
        _raise_failure(eng, traceback_text, exc_info[1])


class DbProcessingFactory(ProcessingFactory):
    """Processing hooks that save statuses around the run and each object."""

    @classproperty
    def transition_exception_mapper(cls) -> Any:
        """:class:`DbTransitionAction`."""
        return DbTransitionAction

    @staticmethod
    def before_processing(eng: Any, objects: Any) -> None:
        """Save the workflow as running, then start as the generic engine does."""
        eng.save(WorkflowStatus.RUNNING)
        ProcessingFactory.before_processing(eng, objects)

    @staticmethod
    def after_processing(eng: Any, objects: Any) -> None:
        """Finish as the generic engine does, then save COMPLETED or HALTED."""
        ProcessingFactory.after_processing(eng, objects)
        if eng.has_completed:
            eng.save(WorkflowStatus.COMPLETED)
        else:
            eng.save(WorkflowStatus.HALTED)

    @staticmethod
    def before_object(eng: Any, objects: Any, obj: Any) -> None:
        """Save the object as running in this workflow."""
        obj.save(status=obj.known_statuses.RUNNING, id_workflow=eng.db_obj.uuid)
        ProcessingFactory.before_object(eng, objects, obj)

    @staticmethod
    def after_object(eng: Any, objects: Any, obj: Any) -> None:
        """Save the object as completed."""
        obj.save(status=obj.known_statuses.COMPLETED, id_workflow=eng.db_obj.uuid)
        ProcessingFactory.after_object(eng, objects, obj)


class DbWorkflowEngine(GenericWorkflowEngine):
    """A :class:`~workflow.engine.GenericWorkflowEngine` saving to a db object.

    :param db_obj: the database object of the workflow (see the module
        documentation for what it must provide).
    :param kwargs: accepted so that subclasses can pass their own options
        through ``super().__init__``; this class uses none.

    Creating the engine saves nothing; the saves happen while it processes
    (see :class:`DbProcessingFactory` and :class:`DbTransitionAction`).
    """

    def __init__(self, db_obj: Any, **kwargs: Any) -> None:
        self.db_obj = db_obj
        super().__init__()

    @classproperty
    def processing_factory(cls) -> Any:
        """:class:`DbProcessingFactory`."""
        return DbProcessingFactory

    @classproperty
    def known_statuses(cls) -> Any:
        """:class:`WorkflowStatus`."""
        return WorkflowStatus

    def log_fields(self, task: Any = None) -> dict[str, Any]:
        """The generic engine's log fields, plus the workflow's uuid and name.

        ``workflow_uuid`` is the uuid as a string, ``workflow_name`` the
        name (``db_obj.uuid`` and ``db_obj.name``).
        """
        fields = super().log_fields(task)
        uuid = getattr(self.db_obj, "uuid", None)
        fields["workflow_uuid"] = None if uuid is None else str(uuid)
        fields["workflow_name"] = getattr(self.db_obj, "name", None)
        return fields

    @property
    def name(self) -> Any:
        """The workflow's name (``db_obj.name``)."""
        return self.db_obj.name

    @property
    def status(self) -> Any:
        """The workflow's status (``db_obj.status``)."""
        return self.db_obj.status

    @property
    def uuid(self) -> Any:
        """The workflow's identifier (``db_obj.uuid``)."""
        return self.db_obj.uuid

    @property
    def database_objects(self) -> Any:
        """Every object stored with the workflow (``db_obj.objects``)."""
        return self.db_obj.objects

    @property
    def final_objects(self) -> list[Any]:
        """The stored objects whose status is COMPLETED."""
        return [
            obj
            for obj in self.database_objects
            if obj.status == obj.known_statuses.COMPLETED
        ]

    @property
    def halted_objects(self) -> list[Any]:
        """The stored objects whose status is HALTED."""
        return [
            obj
            for obj in self.database_objects
            if obj.status == obj.known_statuses.HALTED
        ]

    @property
    def running_objects(self) -> list[Any]:
        """The stored objects whose status is RUNNING."""
        return [
            obj
            for obj in self.database_objects
            if obj.status == obj.known_statuses.RUNNING
        ]

    def save(self, status: Any = None) -> None:
        """Save the workflow through ``db_obj.save(status)``.

        :param status: the new :class:`WorkflowStatus`, or ``None`` to keep it.
        """
        self.db_obj.save(status)

    def _describe(self) -> str:
        db_obj = self.db_obj
        status = getattr(db_obj, "status", None)
        status_text = getattr(status, "name", status)
        return (
            f"name={getattr(db_obj, 'name', None)!r}"
            f" uuid={getattr(db_obj, 'uuid', None)!s}"
            f" status={status_text}"
        )

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self._describe()}"
            f" objects={len(self.objects)} token_pos={self.state.token_pos}"
            f" callback_pos={self.state.callback_pos}>"
        )

    def __str__(self) -> str:
        db_obj = self.db_obj
        status = getattr(db_obj, "status", None)
        label = getattr(status, "label", status)
        return (
            f"Workflow {getattr(db_obj, 'name', None)!r}"
            f" ({getattr(db_obj, 'uuid', None)}): {label},"
            f" object {self.state.token_pos + 1} of {len(self.objects)},"
            f" task {self.state.callback_pos}"
        )
