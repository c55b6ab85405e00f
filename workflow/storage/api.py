"""Start, resume, restart and inspect stored workflows.

These functions are what command lines and task queues call. They never
raise :class:`~workflow.errors.HaltProcessing` or
:class:`~workflow.errors.WorkflowError` for a halted or failed run: the
outcome is in the returned :class:`WorkflowResult`. They do raise the
:mod:`workflow.storage.errors` for requests that cannot be carried out
(unknown name or uuid, busy workflow, changed definition, unstorable data).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable
from typing import Any, Callable

from sqlalchemy import case, func, select

from ..engine_db import ObjectStatus, WorkflowStatus
from ..errors import HaltProcessing, WorkflowAPIError, WorkflowError
from .engine import StoredWorkflowEngine, check_restart_words
from .errors import WorkflowNotFoundError
from .models import ObjectRecord, WorkflowRecord, WorkflowStore

__all__ = (
    "ObjectInfo",
    "WorkflowInfo",
    "WorkflowResult",
    "get_workflow",
    "list_halted_objects",
    "list_objects",
    "list_workflows",
    "restart",
    "resume",
    "start",
)

_WF = WorkflowRecord.__table__
_OBJ = ObjectRecord.__table__


def _plain(value: Any) -> Any:
    if isinstance(value, (WorkflowStatus, ObjectStatus)):
        return value.name
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value


@dataclasses.dataclass
class WorkflowResult:
    """The outcome of :func:`start`, :func:`resume` or :func:`restart`.

    :ivar uuid: the workflow's uuid.
    :ivar name: its definition's name.
    :ivar status: its status when the call returned.
    :ivar halted_message: the halt's message when it is HALTED, else ``None``.
    :ivar error: the first line of the task's error when it is ERROR (e.g.
        ``"ValueError: bad grade"``), else ``None``; the full traceback is
        saved with the object.
    """

    uuid: str
    name: str
    status: WorkflowStatus
    halted_message: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON-friendly values (status by name)."""
        return {
            field.name: _plain(getattr(self, field.name))
            for field in dataclasses.fields(self)
        }


@dataclasses.dataclass
class WorkflowInfo:
    """A stored workflow, as listed by :func:`list_workflows`.

    :ivar uuid: its uuid.
    :ivar name: its definition's name.
    :ivar status: a :class:`~workflow.engine_db.WorkflowStatus`.
    :ivar created: when it was created (aware UTC datetime).
    :ivar modified: when it was last saved (aware UTC datetime).
    :ivar object_count: how many objects it has.
    :ivar halted_count: how many of them are HALTED.
    :ivar error_count: how many of them are in ERROR.
    """

    uuid: str
    name: str
    status: WorkflowStatus
    created: datetime.datetime
    modified: datetime.datetime
    object_count: int
    halted_count: int
    error_count: int

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON-friendly values (status by name, ISO dates)."""
        return {
            field.name: _plain(getattr(self, field.name))
            for field in dataclasses.fields(self)
        }


@dataclasses.dataclass
class ObjectInfo:
    """A stored object, as listed by :func:`list_objects`.

    :ivar id: its row id.
    :ivar workflow_uuid: the uuid of its workflow.
    :ivar position: its index in the workflow.
    :ivar status: an :class:`~workflow.engine_db.ObjectStatus`.
    :ivar callback_pos: the task position saved with it.
    :ivar data: its data (a JSON value).
    :ivar extra_data: its extra data (a dict).
    :ivar halt_message: why it halted, if it is HALTED.
    :ivar halt_action: the action its halt named, if any.
    :ivar error_message: the traceback of its error, if it is in ERROR.
    """

    id: int
    workflow_uuid: str
    position: int
    status: ObjectStatus
    callback_pos: list[int]
    data: Any
    extra_data: dict[str, Any]
    halt_message: str | None
    halt_action: str | None
    error_message: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON-friendly values (status by name)."""
        return {
            field.name: _plain(getattr(self, field.name))
            for field in dataclasses.fields(self)
        }


def _error_line(error: BaseException) -> str:
    cause = error.__cause__ or error
    # A WorkflowError's str() lists its ids and payload too: its message is
    # what says what went wrong.
    text = str(cause.message if isinstance(cause, WorkflowError) else cause).strip()
    name = type(cause).__name__
    return f"{name}: {text.splitlines()[0]}" if text else name


def _run(eng: StoredWorkflowEngine, action: Callable[[], None]) -> WorkflowResult:
    halted_message = None
    error = None
    try:
        action()
    except HaltProcessing as halt:
        halted_message = halt.message
    except WorkflowError as failure:
        error = _error_line(failure)
    status = eng.db_obj.status
    objects = eng.database_objects
    position = eng.state.token_pos
    if (
        status is WorkflowStatus.HALTED
        and halted_message is None
        and 0 <= position < len(objects)
    ):
        # A stop() or abort() halts without an exception reaching us.
        halted_message = objects[position].halt_message
    if status is not WorkflowStatus.HALTED:
        halted_message = None
    if status is not WorkflowStatus.ERROR:
        error = None
    return WorkflowResult(
        eng.db_obj.uuid, eng.db_obj.name, status, halted_message, error
    )


def start(
    name: str,
    data: Iterable[Any],
    store: WorkflowStore,
    *,
    stop_on_halt: bool = True,
    stop_on_error: bool = True,
) -> WorkflowResult:
    """Store a new workflow running the definition ``name`` over ``data``, and run it.

    :param name: the definition's name in :data:`~workflow.storage.registry`
        (or an import path, ``"package.module:attribute"``).
    :param data: one JSON value per object: a list, a tuple, or an iterator
        (read once, a batch at a time, never held whole).
    :param store: where to store the workflow.
    :param stop_on_halt: when false, a halted object is left HALTED and the
        run goes on with the next object.
    :param stop_on_error: when false, a failed object is left in ERROR and
        the run goes on with the next object.
    :raises UnknownWorkflowError: when ``name`` is not known.
    :raises UnserializableDataError: when an item of ``data`` is not a JSON
        value; nothing is written then.
    """
    eng = StoredWorkflowEngine.with_name(name, store, data=data)
    return _run(
        eng,
        lambda: eng.process(stop_on_error=stop_on_error, stop_on_halt=stop_on_halt),
    )


def resume(uuid: str, store: WorkflowStore, *, force: bool = False) -> WorkflowResult:
    """Go on with the stored workflow ``uuid`` from where it stopped.

    A HALTED or ERROR workflow goes on after the task that stopped it; a NEW
    one starts; a COMPLETED one is returned as it is. A RUNNING workflow is
    refused with :class:`~workflow.storage.errors.WorkflowBusyError` unless
    ``force`` is true: use ``force=True`` only when the process that ran it
    is known to be gone (killed, crashed). The workflow is then taken over
    and its interrupted object runs again from the task position saved when
    that object started, so no completed object runs twice.

    :param uuid: the workflow's uuid.
    :param store: where it is stored.
    :param force: take over a RUNNING workflow, and run it even if its
        definition changed since it was saved.
    :raises WorkflowNotFoundError: when no workflow has that uuid.
    :raises WorkflowBusyError: when another process runs it.
    :raises DefinitionChangedError: when its definition changed, unless
        ``force``.
    """
    eng = StoredWorkflowEngine.from_uuid(uuid, store)
    return _run(eng, lambda: eng.resume(force=force))


def restart(
    uuid: str,
    store: WorkflowStore,
    *,
    obj: str = "current",
    task: str = "first",
    force: bool = False,
) -> WorkflowResult:
    """Restart the stored workflow ``uuid`` relative to where it stopped.

    :param obj: ``'prev'``, ``'current'``, ``'next'`` or ``'first'`` object.
    :param task: ``'prev'``, ``'current'``, ``'next'`` or ``'first'`` task.
    :param force: as for :func:`resume`.
    :raises WorkflowError: when ``obj`` or ``task`` is another word (checked
        before anything is written).

    The other errors are those of :func:`resume`.
    """
    check_restart_words(obj, task)
    eng = StoredWorkflowEngine.from_uuid(uuid, store)
    return _run(eng, lambda: eng.restart(obj, task, force=force))


def _status_value(status: Any) -> int:
    if isinstance(status, WorkflowStatus):
        return status.value
    if isinstance(status, str) and status.upper() in WorkflowStatus.__members__:
        return WorkflowStatus[status.upper()].value
    if isinstance(status, int) and not isinstance(status, bool):
        try:
            return WorkflowStatus(status).value
        except ValueError:
            pass
    raise WorkflowAPIError(
        f"Unknown workflow status {status!r}; use a WorkflowStatus or one of"
        f" {', '.join(WorkflowStatus.__members__)}"
    )


def _workflow_query() -> Any:
    counts = (
        select(
            _OBJ.c.workflow_uuid,
            func.count().label("object_count"),
            func.sum(
                case((_OBJ.c.status == ObjectStatus.HALTED.value, 1), else_=0)
            ).label("halted_count"),
            func.sum(
                case((_OBJ.c.status == ObjectStatus.ERROR.value, 1), else_=0)
            ).label("error_count"),
        )
        .group_by(_OBJ.c.workflow_uuid)
        .subquery()
    )
    return (
        select(
            _WF.c.uuid,
            _WF.c.name,
            _WF.c.status,
            _WF.c.created,
            _WF.c.modified,
            counts.c.object_count,
            counts.c.halted_count,
            counts.c.error_count,
        )
        .outerjoin(counts, counts.c.workflow_uuid == _WF.c.uuid)
        .order_by(_WF.c.created, _WF.c.uuid)
    )


def _workflow_info(row: Any) -> WorkflowInfo:
    return WorkflowInfo(
        uuid=row.uuid,
        name=row.name,
        status=WorkflowStatus(row.status),
        created=row.created,
        modified=row.modified,
        object_count=int(row.object_count or 0),
        halted_count=int(row.halted_count or 0),
        error_count=int(row.error_count or 0),
    )


def list_workflows(store: WorkflowStore, status: Any = None) -> list[WorkflowInfo]:
    """Return the stored workflows, oldest first.

    :param status: only those with this status: a
        :class:`~workflow.engine_db.WorkflowStatus`, its name (``"HALTED"``)
        or its value.
    :raises WorkflowAPIError: for an unknown status.
    """
    query = _workflow_query()
    if status is not None:
        query = query.where(_WF.c.status == _status_value(status))
    with store.session() as session:
        return [_workflow_info(row) for row in session.execute(query)]


def get_workflow(uuid: str, store: WorkflowStore) -> WorkflowInfo:
    """Return the stored workflow ``uuid``.

    :raises WorkflowNotFoundError: when no workflow has that uuid.
    """
    with store.session() as session:
        row = session.execute(_workflow_query().where(_WF.c.uuid == str(uuid))).first()
    if row is None:
        raise WorkflowNotFoundError(f"No workflow with uuid {uuid!r}", str(uuid))
    return _workflow_info(row)


def _object_info(row: Any) -> ObjectInfo:
    return ObjectInfo(
        id=row.id,
        workflow_uuid=row.workflow_uuid,
        position=row.position,
        status=ObjectStatus(row.status),
        callback_pos=list(row.callback_pos),
        data=row.data,
        extra_data=row.extra_data if row.extra_data is not None else {},
        halt_message=row.halt_message,
        halt_action=row.halt_action,
        error_message=row.error_message,
    )


def list_objects(uuid: str, store: WorkflowStore) -> list[ObjectInfo]:
    """Return the objects of the workflow ``uuid``, by position.

    :raises WorkflowNotFoundError: when no workflow has that uuid.
    """
    uuid = str(uuid)
    with store.session() as session:
        found = session.execute(select(_WF.c.uuid).where(_WF.c.uuid == uuid)).first()
        if found is None:
            raise WorkflowNotFoundError(f"No workflow with uuid {uuid!r}", uuid)
        rows = session.execute(
            select(_OBJ).where(_OBJ.c.workflow_uuid == uuid).order_by(_OBJ.c.position)
        ).all()
    return [_object_info(row) for row in rows]


def list_halted_objects(store: WorkflowStore) -> list[ObjectInfo]:
    """Return every HALTED object of every workflow, oldest halt first."""
    with store.session() as session:
        rows = session.execute(
            select(_OBJ)
            .where(_OBJ.c.status == ObjectStatus.HALTED.value)
            .order_by(_OBJ.c.modified, _OBJ.c.id)
        ).all()
    return [_object_info(row) for row in rows]
