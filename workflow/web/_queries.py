"""The holding pen's reads and writes, each page in a fixed number of statements.

Pages are read with ``LIMIT``/``OFFSET`` and never load a row per listed
item (no N+1): the workflows page takes two statements (counts by status,
then the page with its object counts), the waiting list two (counts by
action, then the page), whatever the page size. A workflow's history is
read newest first, a page at a time from a cursor (the oldest event id
shown), so a page costs the same however many events the workflow has.

Rows become the storage API's own records
(:class:`~workflow.storage.api.WorkflowInfo`,
:class:`~workflow.storage.api.ObjectInfo`,
:class:`~workflow.storage.history.HistoryEntry`) through its converters.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from typing import Any, cast

from sqlalchemy import Table, and_, case, exists, func, select, update
from sqlalchemy.engine import CursorResult

from ..engine_db import ObjectStatus, WorkflowStatus
from ..storage.api import WorkflowInfo, _object_info, _workflow_info
from ..storage.history import HistoryEntry, record_event
from ..storage.models import (
    HistoryRecord,
    ObjectRecord,
    WorkflowRecord,
    WorkflowStore,
    utcnow,
)

__all__ = (
    "HaltedObject",
    "Action",
    "HistoryPage",
    "ObjectDetail",
    "WorkflowDetail",
    "WorkflowPage",
    "WaitingPage",
    "get_object",
    "get_workflow",
    "halted_page",
    "history_page",
    "record_action",
    "save_object_data",
    "workflow_objects",
    "workflow_page",
)

_WF = cast(Table, WorkflowRecord.__table__)
_OBJ = cast(Table, ObjectRecord.__table__)
_HISTORY = cast(Table, HistoryRecord.__table__)
# The history's actor column holds at most this many characters.
_ACTOR_LENGTH = 255
_UUID_PREFIX = re.compile(r"^[0-9a-f-]{1,36}$")
# Greater than every character of a uuid: "p" <= uuid < "p~" is a prefix
# match that uses the primary key index (LIKE may not, on SQLite).
_AFTER_UUID_CHARS = "~"


def normalise_uuid_prefix(text: str) -> str | None:
    """Return ``text`` as a lowercase uuid prefix, or ``None`` if it cannot be one."""
    text = text.strip().lower()
    return text if _UUID_PREFIX.match(text) else None


@dataclasses.dataclass
class WorkflowPage:
    """A page of workflows.

    :ivar rows: the workflows of the page, newest first.
    :ivar total: how many workflows match the filters.
    :ivar counts: how many workflows have each status (by status name), with
        the name and uuid filters but without the status filter.
    """

    rows: list[WorkflowInfo]
    total: int
    counts: dict[str, int]


@dataclasses.dataclass
class HaltedObject:
    """A halted object in the waiting list.

    :ivar id: its row id.
    :ivar workflow_uuid: its workflow's uuid.
    :ivar workflow_name: its workflow's definition name.
    :ivar position: its position in the workflow.
    :ivar action: its halt action (``None``: no action named).
    :ivar message: its halt message.
    :ivar data: its data.
    :ivar modified: when it halted.
    """

    id: int
    workflow_uuid: str
    workflow_name: str
    position: int
    action: str | None
    message: str | None
    data: Any
    modified: datetime.datetime


@dataclasses.dataclass
class WaitingPage:
    """A page of the waiting list.

    :ivar rows: halted objects ordered by action, then oldest halt first.
    :ivar total: how many halted objects match the filter.
    :ivar counts: how many halted objects each action has (``None`` for
        halts without an action), over every action.
    """

    rows: list[HaltedObject]
    total: int
    counts: list[tuple[str | None, int]]


@dataclasses.dataclass
class WorkflowDetail:
    """A workflow with the fields its page shows.

    :ivar token_pos: the position of the object it stopped at.
    :ivar version: its version counter (changes when a process claims it).
    :ivar stopped_at: the task position of its last halted or failed object
        (else of its running object), for the diagram; ``None`` if none.
    :ivar heartbeat: when the process running it last said it was alive
        (``None``: no process claims it, or one from before claims had
        heartbeats).
    """

    uuid: str
    name: str
    status: WorkflowStatus
    created: datetime.datetime
    modified: datetime.datetime
    extra_data: Any
    token_pos: int
    version: int
    object_count: int
    stopped_at: list[int] | None
    heartbeat: datetime.datetime | None


@dataclasses.dataclass
class ObjectDetail:
    """An object with every stored field, and its workflow's name and state."""

    id: int
    workflow_uuid: str
    workflow_name: str
    workflow_status: WorkflowStatus
    workflow_token_pos: int
    workflow_version: int
    position: int
    status: ObjectStatus
    callback_pos: list[int]
    data: Any
    extra_data: Any
    halt_message: str | None
    halt_action: str | None
    halt_payload: Any
    error_message: str | None
    created: datetime.datetime
    modified: datetime.datetime


@dataclasses.dataclass
class HistoryPage:
    """A page of a workflow's run history, newest event first.

    :ivar events: the events of the page.
    :ivar older: the cursor of the next, older page (pass it as
        ``before``), or ``None`` when the page ends with the oldest event.
    """

    events: list[HistoryEntry]
    older: int | None


@dataclasses.dataclass(frozen=True)
class Action:
    """A person's action on a workflow, as its history records it.

    :ivar actor: who took it.
    :ivar details: which action, and its words (a JSON object).
    :ivar position: the object it concerns, if it concerns one.
    """

    actor: str
    details: dict[str, Any]
    position: int | None = None


def _workflow_filters(name: str | None, uuid_prefix: str | None) -> list[Any]:
    filters: list[Any] = []
    if name:
        filters.append(_WF.c.name == name)
    if uuid_prefix:
        filters.append(_WF.c.uuid >= uuid_prefix)
        filters.append(_WF.c.uuid < uuid_prefix + _AFTER_UUID_CHARS)
    return filters


def workflow_page(
    store: WorkflowStore,
    *,
    status: WorkflowStatus | None = None,
    name: str | None = None,
    uuid_prefix: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> WorkflowPage:
    """Return one page of workflows, newest first, with their object counts.

    Two statements: the counts by status, then the page joined with the
    counts of its own objects only.
    """
    filters = _workflow_filters(name, uuid_prefix)
    counts_query = select(_WF.c.status, func.count()).group_by(_WF.c.status)
    if filters:
        counts_query = counts_query.where(*filters)
    page_filters = list(filters)
    if status is not None:
        page_filters.append(_WF.c.status == status.value)
    page = (
        select(_WF.c.uuid, _WF.c.name, _WF.c.status, _WF.c.created, _WF.c.modified)
        .where(*page_filters)
        .order_by(_WF.c.created.desc(), _WF.c.uuid.desc())
        .limit(limit)
        .offset(offset)
        .subquery()
    )

    def count_objects(*where: Any) -> Any:
        # One count per listed workflow, through the (workflow_uuid,
        # position) index: a join grouped over every object of the page
        # sorts them all first, which a workflow of many objects makes slow.
        return (
            select(func.count())
            .select_from(_OBJ)
            .where(_OBJ.c.workflow_uuid == page.c.uuid, *where)
            .scalar_subquery()
        )

    query = select(
        page,
        count_objects().label("object_count"),
        count_objects(_OBJ.c.status == ObjectStatus.HALTED.value).label("halted_count"),
        count_objects(_OBJ.c.status == ObjectStatus.ERROR.value).label("error_count"),
    ).order_by(page.c.created.desc(), page.c.uuid.desc())
    with store.session() as session:
        counts = {
            WorkflowStatus(value).name: int(count)
            for value, count in session.execute(counts_query)
        }
        rows = [_workflow_info(row) for row in session.execute(query)]
    total = counts.get(status.name, 0) if status is not None else sum(counts.values())
    return WorkflowPage(rows, total, counts)


def halted_page(
    store: WorkflowStore,
    *,
    action: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> WaitingPage:
    """Return one page of halted objects, by action then oldest halt first.

    Two statements: the counts by action, then the page joined with its
    workflows' names.

    :param action: only the objects halted with this action (``""``: those
        halted without one); ``None`` for all.
    """
    halted = _OBJ.c.status == ObjectStatus.HALTED.value
    counts_query = (
        select(_OBJ.c.halt_action, func.count())
        .where(halted)
        .group_by(_OBJ.c.halt_action)
        .order_by(_OBJ.c.halt_action)
    )
    filters = [halted]
    if action == "":
        filters.append(_OBJ.c.halt_action.is_(None))
    elif action is not None:
        filters.append(_OBJ.c.halt_action == action)
    order = (_OBJ.c.halt_action, _OBJ.c.modified, _OBJ.c.id)
    # The page's ids first, sorted on narrow rows; the full rows (with their
    # data, which may be large) are read for those ids only.
    page_ids = (
        select(_OBJ.c.id)
        .where(*filters)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
        .subquery()
    )
    query = (
        select(
            _OBJ.c.id,
            _OBJ.c.workflow_uuid,
            _WF.c.name,
            _OBJ.c.position,
            _OBJ.c.halt_action,
            _OBJ.c.halt_message,
            _OBJ.c.data,
            _OBJ.c.modified,
        )
        .join(page_ids, page_ids.c.id == _OBJ.c.id)
        .join(_WF, _WF.c.uuid == _OBJ.c.workflow_uuid)
        .order_by(*order)
    )
    with store.session() as session:
        counts = [(value, int(count)) for value, count in session.execute(counts_query)]
        rows = [
            HaltedObject(
                row.id,
                row.workflow_uuid,
                row.name,
                row.position,
                row.halt_action,
                row.halt_message,
                row.data,
                row.modified,
            )
            for row in session.execute(query)
        ]
    if action is None:
        total = sum(count for _, count in counts)
    else:
        total = sum(count for value, count in counts if value == (action or None))
    return WaitingPage(rows, total, counts)


def get_workflow(store: WorkflowStore, uuid: str) -> WorkflowDetail | None:
    """Return the workflow ``uuid`` with its object count, or ``None``."""
    object_count = (
        select(func.count()).where(_OBJ.c.workflow_uuid == _WF.c.uuid).scalar_subquery()
    )
    stopped_at = (
        select(_OBJ.c.callback_pos)
        .where(
            _OBJ.c.workflow_uuid == _WF.c.uuid,
            _OBJ.c.status.in_((ObjectStatus.HALTED.value, ObjectStatus.ERROR.value)),
        )
        .order_by(_OBJ.c.position.desc())
        .limit(1)
        .scalar_subquery()
    )
    running_at = (
        select(_OBJ.c.callback_pos)
        .where(
            _OBJ.c.workflow_uuid == _WF.c.uuid,
            _OBJ.c.status == ObjectStatus.RUNNING.value,
        )
        .order_by(_OBJ.c.position.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = select(
        _WF,
        object_count.label("object_count"),
        stopped_at.label("stopped_at"),
        # Only a RUNNING workflow has a running object: the others skip the
        # walk over their objects (CASE evaluates the subquery lazily).
        case(
            (_WF.c.status == WorkflowStatus.RUNNING.value, running_at),
            else_=None,
        ).label("running_at"),
    ).where(_WF.c.uuid == uuid)
    with store.session() as session:
        row = session.execute(query).first()
    if row is None:
        return None
    position = row.stopped_at if row.stopped_at is not None else row.running_at
    return WorkflowDetail(
        row.uuid,
        row.name,
        WorkflowStatus(row.status),
        row.created,
        row.modified,
        row.extra_data,
        row.token_pos,
        row.version,
        int(row.object_count),
        _position(position),
        row.heartbeat,
    )


def _position(value: Any) -> list[int] | None:
    # A JSON column read through a scalar subquery comes back as text on
    # some databases.
    if value is None:
        return None
    if isinstance(value, str):
        value = json.loads(value)
    return [int(item) for item in value]


def _objects_with_workflow() -> Any:
    """Objects joined with the state of their workflow, for ObjectDetail."""
    return select(
        _OBJ,
        _WF.c.name.label("workflow_name"),
        _WF.c.status.label("workflow_status"),
        _WF.c.token_pos.label("workflow_token_pos"),
        _WF.c.version.label("workflow_version"),
    ).join(_WF, _WF.c.uuid == _OBJ.c.workflow_uuid)


def workflow_objects(
    store: WorkflowStore, uuid: str, *, limit: int, offset: int
) -> list[ObjectDetail]:
    """Return one page of the objects of workflow ``uuid``, by position."""
    query = (
        _objects_with_workflow()
        .where(_OBJ.c.workflow_uuid == uuid)
        .order_by(_OBJ.c.position)
        .limit(limit)
        .offset(offset)
    )
    with store.session() as session:
        return [_object_detail(row) for row in session.execute(query)]


def get_object(store: WorkflowStore, object_id: int) -> ObjectDetail | None:
    """Return the object ``object_id`` with its workflow's state, or ``None``."""
    query = _objects_with_workflow().where(_OBJ.c.id == object_id)
    with store.session() as session:
        row = session.execute(query).first()
    return None if row is None else _object_detail(row)


def _object_detail(row: Any) -> ObjectDetail:
    return ObjectDetail(
        **vars(_object_info(row)),
        workflow_name=row.workflow_name,
        workflow_status=WorkflowStatus(row.workflow_status),
        workflow_token_pos=row.workflow_token_pos,
        workflow_version=row.workflow_version,
        created=row.created,
        modified=row.modified,
    )


def save_object_data(
    store: WorkflowStore, obj: ObjectDetail, data: Any, action: Action
) -> bool:
    """Write ``data`` into the halted object ``obj`` if nothing moved since read.

    The write happens only while the object is still HALTED and its
    workflow still has the version read with ``obj`` and is not RUNNING:
    a process that claimed the workflow meanwhile wins. The ``action`` that
    changed the data goes into the history in the same transaction.

    :returns: whether the object was written (and the action recorded).
    """
    unchanged_workflow = exists().where(
        _WF.c.uuid == obj.workflow_uuid,
        _WF.c.version == obj.workflow_version,
        _WF.c.status != WorkflowStatus.RUNNING.value,
    )
    statement = (
        update(_OBJ)
        .where(
            and_(
                _OBJ.c.id == obj.id,
                _OBJ.c.status == ObjectStatus.HALTED.value,
                unchanged_workflow,
            )
        )
        .values(data=data, modified=utcnow())
    )
    with store.session() as session:
        result = cast(CursorResult[Any], session.execute(statement))
        if result.rowcount != 1:
            return False
        _record(session.connection(), obj.workflow_uuid, action)
        return True


def record_action(store: WorkflowStore, uuid: str, action: Action) -> None:
    """Add ``action`` to the history of workflow ``uuid`` in its own transaction."""
    with store.begin() as connection:
        _record(connection, uuid, action)


def _record(connection: Any, uuid: str, action: Action) -> None:
    record_event(
        connection,
        uuid,
        "action",
        position=action.position,
        actor=action.actor[:_ACTOR_LENGTH],
        details=action.details,
    )


def history_page(
    store: WorkflowStore,
    uuid: str,
    *,
    position: int | None = None,
    before: int | None = None,
    limit: int = 50,
) -> HistoryPage:
    """Return a page of the history of workflow ``uuid``, newest event first.

    One statement, walking the ``(workflow_uuid, id)`` index from the
    cursor down, so a deep page is as quick as the first.

    :param position: only the events of the object at this position.
    :param before: only events older than this event id (a page's
        :attr:`HistoryPage.older`).
    :param limit: at most this many events.
    """
    query = select(_HISTORY).where(_HISTORY.c.workflow_uuid == uuid)
    if position is not None:
        query = query.where(_HISTORY.c.position == position)
    if before is not None:
        query = query.where(_HISTORY.c.id < before)
    # One more than asked says whether an older page exists.
    query = query.order_by(_HISTORY.c.id.desc()).limit(limit + 1)
    with store.connect() as connection:
        rows = connection.execute(query).all()
    events = [HistoryEntry(**row._asdict()) for row in rows[:limit]]
    return HistoryPage(events, events[-1].id if len(rows) > limit else None)
