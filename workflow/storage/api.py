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
from typing import TYPE_CHECKING, Any, Callable, cast

from sqlalchemy import delete, func, select

from .._vocabulary import check_restart_words, parse_uuid, parse_uuid_prefix
from ..engine_db import ObjectStatus, WorkflowStatus
from ..errors import HaltProcessing, WorkflowAPIError, WorkflowError
from .engine import StoredWorkflowEngine, error_line
from .errors import (
    AmbiguousUuidError,
    WorkflowBusyError,
    WorkflowExistsError,
    WorkflowNotFoundError,
)
from .history import CLAIM_EVENTS, message_has_event
from .models import (
    HistoryRecord,
    ObjectRecord,
    WorkflowRecord,
    WorkflowStore,
)

if TYPE_CHECKING:
    from sqlalchemy import CursorResult

__all__ = (
    "ObjectInfo",
    "WorkflowInfo",
    "WorkflowResult",
    "count_objects",
    "delete_workflow",
    "get_object",
    "get_workflow",
    "list_halted_objects",
    "list_objects",
    "list_workflows",
    "prune_workflows",
    "release_interrupted",
    "resolve_uuid",
    "restart",
    "resume",
    "run_engine",
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
    :ivar replayed: true when nothing ran because the call's
        ``message_id`` had run the workflow already: the result is the
        stored outcome of that earlier run.
    """

    uuid: str
    name: str
    status: WorkflowStatus
    halted_message: str | None = None
    error: str | None = None
    replayed: bool = False

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
    :ivar error_message: the full formatted traceback of its error, if it
        is in ERROR.
    :ivar halt_payload: the payload its halt carried, if any (a JSON value).
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
    halt_payload: Any = None

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON-friendly values (status by name)."""
        return {
            field.name: _plain(getattr(self, field.name))
            for field in dataclasses.fields(self)
        }


def _stored_error(eng: StoredWorkflowEngine) -> str | None:
    """The error line of the workflow's last recorded error, if any."""
    with eng.db_obj.store.connect() as connection:
        details = connection.execute(
            select(HistoryRecord.details)
            .where(
                HistoryRecord.workflow_uuid == eng.db_obj.uuid,
                HistoryRecord.event == "error",
            )
            .order_by(HistoryRecord.id.desc())
            .limit(1)
        ).scalar()
    if isinstance(details, dict) and isinstance(details.get("error"), str):
        return str(details["error"])
    position = eng.state.token_pos
    objects = eng.database_objects
    if not 0 <= position < len(objects):
        return None
    text = objects[position].error_message
    # A traceback's error line is the first not indented after its frames.
    lines = (text or "").rstrip().splitlines()
    frames = [index for index, line in enumerate(lines) if line.startswith(" ")]
    rest = lines[frames[-1] + 1 :] if frames else lines[-1:]
    return rest[0] if rest else None


def run_engine(
    eng: StoredWorkflowEngine, action: Callable[[], object]
) -> WorkflowResult:
    """Call ``action`` (a run of ``eng``) and return the workflow's outcome.

    For callers that build the engine themselves (to know its uuid before
    it runs, or to run it with their own options): a halt or a task's error
    is returned in the result, not raised.

    :param eng: the engine, from
        :meth:`~workflow.storage.StoredWorkflowEngine.with_name` or
        :meth:`~workflow.storage.StoredWorkflowEngine.from_uuid`.
    :param action: runs it, e.g. ``lambda: eng.process()`` or
        ``lambda: eng.resume(force=True)``.
    :raises Exception: what ``action`` raises other than
        :class:`~workflow.errors.HaltProcessing` and
        :class:`~workflow.errors.WorkflowError` (refusals of the storage,
        database errors).
    """
    halted_message = None
    error = None
    try:
        action()
    except HaltProcessing as halt:
        halted_message = halt.message
    except WorkflowError as failure:
        error = error_line(failure)
    status = eng.db_obj.status
    if status is WorkflowStatus.ERROR and error is None:
        error = _stored_error(eng)
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
        eng.db_obj.uuid,
        eng.db_obj.name,
        status,
        halted_message,
        error,
        replayed=eng.replayed,
    )


def start(
    name: str,
    data: Iterable[Any],
    store: WorkflowStore,
    *,
    uuid: str | None = None,
    message_id: str | None = None,
    stop_on_halt: bool = True,
    stop_on_error: bool = True,
) -> WorkflowResult:
    """Store a new workflow running the definition ``name`` over ``data``, and run it.

    :param name: the definition's name in :data:`~workflow.storage.registry`
        (or an import path, ``"package.module:attribute"``).
    :param data: one JSON value per object: a list, a tuple, or an iterator
        (read once, a batch at a time, never held whole).
    :param store: where to store the workflow.
    :param uuid: the new workflow's uuid, chosen by the caller (a task
        queue derives it from its message id, so that a redelivered message
        finds the workflow its first delivery created); a random one by
        default.
    :param message_id: the id of the message asking for the start. When a
        workflow with ``uuid`` exists already and this message created it
        (its earlier delivery), the call is that delivery's retry: a
        workflow still NEW is run; one RUNNING under this message's claim is
        carried on from where it stopped; otherwise nothing runs and the
        stored outcome is returned, with ``replayed`` set.
    :param stop_on_halt: when false, a halted object is left HALTED and the
        run goes on with the next object.
    :param stop_on_error: when false, a failed object is left in ERROR and
        the run goes on with the next object.
    :raises UnknownWorkflowError: when ``name`` is not known.
    :raises UnserializableDataError: when an item of ``data`` is not a JSON
        value; nothing is written then.
    :raises WorkflowExistsError: when a workflow with ``uuid`` exists and
        ``message_id`` did not create it.
    """
    try:
        eng = StoredWorkflowEngine.with_name(
            name, store, data=data, uuid=uuid, message_id=message_id
        )
    except WorkflowExistsError as exists:
        if message_id is None or not _message_in_history(
            exists.uuid, message_id, store, ("created",)
        ):
            raise
        return _start_again(exists.uuid, message_id, store, stop_on_halt, stop_on_error)
    return _process(eng, stop_on_halt, stop_on_error, message_id)


def _message_in_history(
    uuid: str, message_id: str, store: WorkflowStore, events: tuple[str, ...]
) -> bool:
    with store.connect() as connection:
        return message_has_event(connection, uuid, message_id, events)


def _start_again(
    uuid: str,
    message_id: str,
    store: WorkflowStore,
    stop_on_halt: bool,
    stop_on_error: bool,
) -> WorkflowResult:
    """The retry of a start whose message created the workflow ``uuid``."""
    eng = StoredWorkflowEngine.from_uuid(uuid, store)
    if eng.db_obj.status is not WorkflowStatus.NEW and not _message_in_history(
        uuid, message_id, store, CLAIM_EVENTS
    ):
        # Another call ran the workflow since this message created it: the
        # start's outcome is what that run left.
        eng.replayed = True
        return run_engine(eng, lambda: None)
    return _process(eng, stop_on_halt, stop_on_error, message_id)


def _process(
    eng: StoredWorkflowEngine,
    stop_on_halt: bool,
    stop_on_error: bool,
    message_id: str | None,
) -> WorkflowResult:
    """The first run of a started workflow (or its message's retry)."""
    return run_engine(
        eng,
        lambda: eng.process(
            stop_on_error=stop_on_error,
            stop_on_halt=stop_on_halt,
            message_id=message_id,
        ),
    )


def resume(
    uuid: str,
    store: WorkflowStore,
    *,
    take_over: bool = False,
    allow_changed_definition: bool = False,
    force: bool = False,
    message_id: str | None = None,
) -> WorkflowResult:
    """Go on with the stored workflow ``uuid`` from where it stopped.

    A HALTED or ERROR workflow goes on after the task that stopped it; a NEW
    one starts; a COMPLETED one is returned as it is. Where it stopped is
    read when the workflow is claimed, in the claim's transaction.

    A RUNNING workflow is refused with
    :class:`~workflow.storage.errors.WorkflowBusyError` unless ``take_over``
    is true and the lease of the process running it expired (no heartbeat
    for the store's ``lease``: that process is taken as dead), or ``force``
    is true. The workflow is then taken over: its interrupted object runs
    again from the task position saved when that object started, so no
    completed object runs twice, and the process that ran it, if still
    alive, writes nothing more (it stops with ``WorkflowBusyError`` at its
    next save).

    :param uuid: the workflow's uuid.
    :param store: where it is stored.
    :param take_over: take over a RUNNING workflow whose owner's lease
        expired.
    :param allow_changed_definition: run it even if its definition changed
        since it was saved.
    :param force: both of the above, and take over a RUNNING workflow even
        while its owner's lease runs (use it only when that process is
        known to be gone).
    :param message_id: the id of the message asking for the resume (a task
        queue's). When the workflow is RUNNING under a claim this message
        made (its earlier delivery was cut short), it is taken over at once
        and carried on; when its history has a claim by this message, nothing
        runs and the stored outcome is returned with ``replayed`` set (a
        redelivered resume never goes past a halt or an error it produced).
    :raises WorkflowNotFoundError: when no workflow has that uuid.
    :raises WorkflowBusyError: when another process runs it.
    :raises DefinitionChangedError: when its definition changed, unless
        allowed.
    """
    eng = StoredWorkflowEngine.from_uuid(_stored_uuid(uuid), store)
    return run_engine(
        eng,
        lambda: eng.resume(
            take_over=take_over,
            allow_changed_definition=allow_changed_definition,
            force=force,
            message_id=message_id,
        ),
    )


def restart(
    uuid: str,
    store: WorkflowStore,
    *,
    obj: str = "current",
    task: str = "first",
    take_over: bool = False,
    allow_changed_definition: bool = False,
    force: bool = False,
    message_id: str | None = None,
) -> WorkflowResult:
    """Restart the stored workflow ``uuid`` relative to where it stopped.

    :param obj: ``'prev'``, ``'current'``, ``'next'`` or ``'first'`` object.
    :param task: ``'prev'``, ``'current'``, ``'next'`` or ``'first'`` task.
    :param take_over: as for :func:`resume`.
    :param allow_changed_definition: as for :func:`resume`.
    :param force: as for :func:`resume`.
    :param message_id: as for :func:`resume`; a restart whose message's
        earlier delivery was cut short goes on from where it stopped, and
        does not restart a second time.
    :raises WorkflowError: when ``obj`` or ``task`` is another word (checked
        before anything is written).

    The other errors are those of :func:`resume`.
    """
    check_restart_words(obj, task)
    eng = StoredWorkflowEngine.from_uuid(_stored_uuid(uuid), store)
    return run_engine(
        eng,
        lambda: eng.restart(
            obj,
            task,
            take_over=take_over,
            allow_changed_definition=allow_changed_definition,
            force=force,
            message_id=message_id,
        ),
    )


def _stored_uuid(uuid: Any) -> str:
    """``uuid`` in its stored spelling, or as given when it is no uuid."""
    try:
        return parse_uuid(str(uuid))
    except ValueError:
        return str(uuid)


def _status_value(status: Any) -> int:
    if isinstance(status, WorkflowStatus):
        return int(status.value)
    if isinstance(status, str) and status.upper() in WorkflowStatus.__members__:
        return int(WorkflowStatus[status.upper()].value)
    if isinstance(status, int) and not isinstance(status, bool):
        try:
            return int(WorkflowStatus(status).value)
        except ValueError:
            pass
    raise WorkflowAPIError(
        f"Unknown workflow status {status!r}; use a WorkflowStatus or one of"
        f" {', '.join(WorkflowStatus.__members__)}"
    )


def _object_count(*statuses: ObjectStatus) -> Any:
    """A count of the listed workflow's objects (with one of ``statuses``).

    Correlated, so that each count reads one workflow's index entries only,
    never every object of the store.
    """
    query = select(func.count()).where(_OBJ.c.workflow_uuid == _WF.c.uuid)
    if statuses:
        query = query.where(_OBJ.c.status.in_([status.value for status in statuses]))
    return query.scalar_subquery()


def _workflow_query() -> Any:
    return select(
        _WF.c.uuid,
        _WF.c.name,
        _WF.c.status,
        _WF.c.created,
        _WF.c.modified,
        _object_count().label("object_count"),
        _object_count(ObjectStatus.HALTED).label("halted_count"),
        _object_count(ObjectStatus.ERROR).label("error_count"),
    ).order_by(_WF.c.created, _WF.c.uuid)


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


def list_workflows(
    store: WorkflowStore,
    status: Any = None,
    *,
    name: str | None = None,
    since: datetime.datetime | None = None,
    before: datetime.datetime | None = None,
    limit: int | None = None,
) -> list[WorkflowInfo]:
    """Return the stored workflows, oldest first.

    :param status: only those with this status: a
        :class:`~workflow.engine_db.WorkflowStatus`, its name (``"HALTED"``)
        or its value.
    :param name: only those whose definition name contains this text.
    :param since: only those saved at or after this moment (an aware
        datetime; a naive one is taken as UTC).
    :param before: only those last saved before this moment.
    :param limit: only the ``limit`` most recently created of them (still
        listed oldest first).
    :raises WorkflowAPIError: for an unknown status or a negative limit.
    """
    query = _workflow_query()
    if status is not None:
        query = query.where(_WF.c.status == _status_value(status))
    if name is not None:
        query = query.where(_WF.c.name.contains(name, autoescape=True))
    if since is not None:
        query = query.where(_WF.c.modified >= since)
    if before is not None:
        query = query.where(_WF.c.modified < before)
    if limit is not None:
        if limit < 0:
            raise WorkflowAPIError(f"limit must be 0 or more, got {limit!r}")
        newest = query.order_by(None).order_by(_WF.c.created.desc(), _WF.c.uuid.desc())
        with store.session() as session:
            rows = session.execute(newest.limit(limit)).all()
        return [_workflow_info(row) for row in reversed(rows)]
    with store.session() as session:
        return [_workflow_info(row) for row in session.execute(query)]


def resolve_uuid(text: str, store: WorkflowStore) -> str:
    """Return the uuid of the one stored workflow whose uuid starts with ``text``.

    :param text: a whole uuid (any case, with or without hyphens) or its
        first characters.
    :raises AmbiguousUuidError: when several workflows match; its
        ``candidates`` are the first ten of them.
    :raises WorkflowNotFoundError: when none does, or ``text`` cannot be
        the start of a uuid.
    """
    try:
        prefix = parse_uuid_prefix(text)
    except ValueError as exc:
        raise WorkflowNotFoundError(str(exc), text) from None
    shown = 10
    with store.session() as session:
        found = list(
            session.execute(
                select(_WF.c.uuid)
                .where(_WF.c.uuid.startswith(prefix, autoescape=True))
                .order_by(_WF.c.uuid)
                .limit(shown + 1)
            ).scalars()
        )
    if not found:
        raise WorkflowNotFoundError(f"No workflow with uuid {text!r}", text)
    if len(found) > 1:
        more = ", ..." if len(found) > shown else ""
        raise AmbiguousUuidError(
            f"{text!r} is the start of several workflow uuids:"
            f" {', '.join(found[:shown])}{more}; give more of the uuid",
            text,
            found[:shown],
        )
    return str(found[0])


def get_workflow(uuid: str, store: WorkflowStore) -> WorkflowInfo:
    """Return the stored workflow ``uuid``.

    :raises WorkflowNotFoundError: when no workflow has that uuid.
    """
    uuid = _stored_uuid(uuid)
    with store.session() as session:
        row = session.execute(_workflow_query().where(_WF.c.uuid == uuid)).first()
    if row is None:
        raise WorkflowNotFoundError(f"No workflow with uuid {uuid!r}", uuid)
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
        halt_payload=row.halt_payload,
    )


def _object_status_value(status: Any) -> int:
    if isinstance(status, ObjectStatus):
        return int(status.value)
    if isinstance(status, str) and status.upper() in ObjectStatus.__members__:
        return int(ObjectStatus[status.upper()].value)
    raise WorkflowAPIError(
        f"Unknown object status {status!r}; use an ObjectStatus or one of"
        f" {', '.join(ObjectStatus.__members__)}"
    )


def _check_exists(session: Any, uuid: str) -> None:
    found = session.execute(select(_WF.c.uuid).where(_WF.c.uuid == uuid)).first()
    if found is None:
        raise WorkflowNotFoundError(f"No workflow with uuid {uuid!r}", uuid)


def list_objects(
    uuid: str,
    store: WorkflowStore,
    *,
    status: Any = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[ObjectInfo]:
    """Return the objects of the workflow ``uuid``, by position.

    :param status: only those with this status: an
        :class:`~workflow.engine_db.ObjectStatus` or its name.
    :param limit: at most this many (the first ones).
    :param offset: skip this many first.
    :raises WorkflowNotFoundError: when no workflow has that uuid.
    :raises WorkflowAPIError: for an unknown status.
    """
    uuid = _stored_uuid(uuid)
    query = select(_OBJ).where(_OBJ.c.workflow_uuid == uuid)
    if status is not None:
        query = query.where(_OBJ.c.status == _object_status_value(status))
    query = query.order_by(_OBJ.c.position).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    with store.session() as session:
        _check_exists(session, uuid)
        rows = session.execute(query).all()
    return [_object_info(row) for row in rows]


def count_objects(uuid: str, store: WorkflowStore) -> dict[ObjectStatus, int]:
    """Return how many objects of the workflow ``uuid`` have each status.

    :returns: every :class:`~workflow.engine_db.ObjectStatus`, in order,
        with its count (zero included).
    :raises WorkflowNotFoundError: when no workflow has that uuid.
    """
    uuid = _stored_uuid(uuid)
    with store.session() as session:
        _check_exists(session, uuid)
        rows = session.execute(
            select(_OBJ.c.status, func.count())
            .where(_OBJ.c.workflow_uuid == uuid)
            .group_by(_OBJ.c.status)
        ).all()
    found = {int(value): int(count) for value, count in rows}
    return {status: found.get(status.value, 0) for status in ObjectStatus}


def get_object(uuid: str, position: int, store: WorkflowStore) -> ObjectInfo:
    """Return the object at ``position`` in the workflow ``uuid``.

    :raises WorkflowNotFoundError: when no workflow has that uuid.
    :raises WorkflowAPIError: when it has no object at that position.
    """
    uuid = _stored_uuid(uuid)
    with store.session() as session:
        _check_exists(session, uuid)
        row = session.execute(
            select(_OBJ).where(
                _OBJ.c.workflow_uuid == uuid, _OBJ.c.position == position
            )
        ).first()
        if row is None:
            count = session.execute(
                select(func.count()).where(_OBJ.c.workflow_uuid == uuid)
            ).scalar_one()
    if row is None:
        have = f"positions 0 to {count - 1}" if count else "no object"
        raise WorkflowAPIError(
            f"Workflow {uuid} has no object at position {position}: it has {have}"
        )
    return _object_info(row)


def delete_workflow(
    uuid: str, store: WorkflowStore, *, force: bool = False
) -> WorkflowInfo:
    """Delete the workflow ``uuid``, its objects and its history, in one transaction.

    :param force: delete it even when it is RUNNING (its process died, or
        will stop at its next save).
    :returns: the workflow as it was.
    :raises WorkflowNotFoundError: when no workflow has that uuid.
    :raises WorkflowBusyError: when it is RUNNING and ``force`` is false;
        nothing is deleted then.
    """
    info = get_workflow(uuid, store)
    condition = [WorkflowRecord.uuid == info.uuid]
    if not force:
        condition.append(WorkflowRecord.status != WorkflowStatus.RUNNING.value)
    with store.session() as session:
        session.execute(
            delete(HistoryRecord).where(HistoryRecord.workflow_uuid == info.uuid)
        )
        session.execute(
            delete(ObjectRecord).where(ObjectRecord.workflow_uuid == info.uuid)
        )
        deleted = session.execute(delete(WorkflowRecord).where(*condition))
        if cast("CursorResult[Any]", deleted).rowcount != 1:
            # Raising rolls the objects' deletion back.
            raise WorkflowBusyError(
                f"Workflow {info.uuid} is RUNNING: it is not deleted. If its"
                " process died, delete it with force=True",
                info.uuid,
            )
    return info


def prune_workflows(
    store: WorkflowStore, *, status: Any, before: datetime.datetime
) -> list[str]:
    """Delete the workflows with ``status`` last saved before ``before``.

    Their objects and history go with them, in the same transaction.

    :param status: a :class:`~workflow.engine_db.WorkflowStatus`, its name or
        its value.
    :param before: an aware datetime (a naive one is taken as UTC).
    :returns: the uuids deleted, oldest first.
    :raises WorkflowAPIError: for an unknown status.
    """
    matching = (
        WorkflowRecord.status == _status_value(status),
        WorkflowRecord.modified < before,
    )
    with store.session() as session:
        uuids = list(
            session.execute(
                select(_WF.c.uuid).where(*matching).order_by(_WF.c.created, _WF.c.uuid)
            ).scalars()
        )
        if uuids:
            session.execute(
                delete(HistoryRecord).where(HistoryRecord.workflow_uuid.in_(uuids))
            )
            session.execute(
                delete(ObjectRecord).where(ObjectRecord.workflow_uuid.in_(uuids))
            )
            session.execute(
                delete(WorkflowRecord).where(WorkflowRecord.uuid.in_(uuids), *matching)
            )
    return uuids


def release_interrupted(eng: StoredWorkflowEngine) -> int | None:
    """Leave a workflow whose run was interrupted so that a plain resume goes on.

    Call it when a run of ``eng`` in this process was cut short (by
    ``KeyboardInterrupt``, say) and left the workflow RUNNING. The object it
    was at is marked HALTED with a message, so that :func:`resume` (no
    take-over needed) runs that object again from the task position it
    started at; objects already completed are not run again. The history
    gets an ``interrupted`` event. A workflow that is no longer RUNNING
    under ``eng``'s claim (another process took it over, or the run ended)
    is left as it is.

    :returns: the position of the object a resume starts with, or ``None``
        when nothing was changed or no object is left to run.
    """
    return eng.unit_of_work.release()


def list_halted_objects(store: WorkflowStore) -> list[ObjectInfo]:
    """Return every HALTED object of every workflow, oldest halt first."""
    with store.session() as session:
        rows = session.execute(
            select(_OBJ)
            .where(_OBJ.c.status == ObjectStatus.HALTED.value)
            .order_by(_OBJ.c.modified, _OBJ.c.id)
        ).all()
    return [_object_info(row) for row in rows]
