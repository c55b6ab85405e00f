"""The run history of stored workflows: what happened to each, when, by whom.

Every stored workflow has a history, one row per event in the
``workflow_history`` table (:class:`~workflow.storage.models.HistoryRecord`),
oldest first. An event has a name (one of :data:`EVENTS`), the time it was
recorded (UTC), the position of the object it concerns (or ``None`` for the
whole workflow), who caused it (``actor``: a person's name from the holding
pen, or ``None``), the id of the task-queue message that caused it (or
``None``), and details as a JSON object.

The events:

``created``
    the workflow was stored (with the id of the message that asked for it,
    if any).
``started``
    the first run of a new workflow began.
``resumed``, ``restarted``
    a later run began; a restart's details name its ``object`` and ``task``
    words.
``taken_over``
    a run began by taking over a workflow that was RUNNING (its owner's
    lease expired, it was forced, or the same message's earlier attempt was
    cut short); the details name what the run was asked to do (``as``:
    ``resumed``, ``restarted``...) and the previous claim (``previous``: its
    ``claim`` token, ``message_id`` and last ``heartbeat``).
``object_started``, ``object_finished``
    an object began, and left, the tasks; the finish names the object's
    ``status``.
``halted``
    an object halted; the details hold its ``message`` and ``action``.
``error``
    an object's task raised; the details hold the ``error`` line.
``completed``
    the run ended with every object done.
``interrupted``
    the run was stopped from outside (Ctrl-C), or by an exception that is
    not a task's (a signal receiver's: its ``error`` line is in the
    details), and its claim released: the details name the ``status`` the
    workflow was left with.
``action``
    a person took an action on the workflow (in the holding pen): the
    details name it.

Events are written in the transaction of the change they describe, so the
history never shows what the database does not. ``object_started`` and
``object_finished`` are written only by a store made with
``object_history=True`` (:class:`~workflow.storage.models.WorkflowStore`).
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import TYPE_CHECKING, Any

# Connection at run time too: the API docs resolve the annotation through it.
from sqlalchemy import Connection, insert, select

from .models import HistoryRecord, utcnow

if TYPE_CHECKING:
    from .models import WorkflowStore

__all__ = (
    "CLAIM_EVENTS",
    "EVENTS",
    "HistoryEntry",
    "message_has_event",
    "record_event",
    "workflow_history",
)

EVENTS: tuple[str, ...] = (
    "created",
    "started",
    "resumed",
    "restarted",
    "taken_over",
    "object_started",
    "object_finished",
    "halted",
    "error",
    "completed",
    "interrupted",
    "action",
)
"""The names an event of the history can have, in no particular order."""

CLAIM_EVENTS: tuple[str, ...] = ("started", "resumed", "restarted", "taken_over")
"""The events of a claim: a run began. A message id recorded with one of
them has run the workflow."""

_HISTORY = HistoryRecord.__table__


@dataclasses.dataclass(frozen=True)
class HistoryEntry:
    """One event of a workflow's history, as :func:`workflow_history` returns it.

    :ivar id: its row id (events of one workflow have increasing ids).
    :ivar workflow_uuid: the workflow it belongs to.
    :ivar time: when it was recorded, an aware UTC datetime.
    :ivar event: its name, one of :data:`EVENTS`.
    :ivar position: the position of the object it concerns, or ``None``.
    :ivar actor: who caused it, or ``None``.
    :ivar message_id: the task-queue message that caused it, or ``None``.
    :ivar details: a JSON object, or ``None``.
    """

    id: int
    workflow_uuid: str
    time: datetime.datetime
    event: str
    position: int | None = None
    actor: str | None = None
    message_id: str | None = None
    details: Any = None

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON-friendly values (the time in ISO 8601)."""
        values = dataclasses.asdict(self)
        values["time"] = self.time.isoformat()
        return values


def _check_event(event: str) -> None:
    if event not in EVENTS:
        raise ValueError(
            f"event {event!r} is not a history event; use one of {', '.join(EVENTS)}"
        )


def record_event(
    connection: Connection,
    workflow_uuid: str,
    event: str,
    *,
    position: int | None = None,
    actor: str | None = None,
    message_id: str | None = None,
    details: dict[str, Any] | None = None,
    time: datetime.datetime | None = None,
) -> None:
    """Add an event to a workflow's history, in the connection's transaction.

    :param connection: a connection in the transaction that makes the change
        the event describes; the event is committed (or rolled back) with it.
    :param workflow_uuid: the workflow's uuid.
    :param event: one of :data:`EVENTS`.
    :param position: the position of the object it concerns, if any.
    :param actor: who caused it, if known.
    :param message_id: the task-queue message that caused it, if any.
    :param details: a JSON object of details, if any.
    :param time: when it happened; now by default.
    :raises ValueError: when ``event`` is not one of :data:`EVENTS`.
    """
    _check_event(event)
    connection.execute(
        insert(HistoryRecord).values(
            workflow_uuid=workflow_uuid,
            time=utcnow() if time is None else time,
            event=event,
            position=position,
            actor=actor,
            message_id=message_id,
            details=details,
        )
    )


def message_has_event(
    connection: Connection, workflow_uuid: str, message_id: str, events: tuple[str, ...]
) -> bool:
    """Whether the message ``message_id`` caused one of ``events`` of a workflow.

    Read in the connection's transaction: a claim asks it in its own snapshot.
    """
    found = connection.execute(
        select(_HISTORY.c.id)
        .where(
            _HISTORY.c.workflow_uuid == workflow_uuid,
            _HISTORY.c.message_id == message_id,
            _HISTORY.c.event.in_(events),
        )
        .limit(1)
    ).first()
    return found is not None


def workflow_history(
    uuid: str,
    store: WorkflowStore,
    *,
    position: int | None = None,
    limit: int | None = None,
    latest: bool = False,
) -> list[HistoryEntry]:
    """Return a workflow's history, oldest event first.

    :param uuid: the workflow's full uuid.
    :param store: where it is stored.
    :param position: only the events of the object at this position.
    :param limit: at most this many events: the oldest ones, or with
        ``latest`` the newest ones (still returned oldest first).
    :param latest: keep the newest events rather than the oldest when
        ``limit`` leaves some out.
    :raises ValueError: when ``limit`` is negative.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be 0 or more, not {limit}")
    newest_first = latest and limit is not None
    order = _HISTORY.c.id.desc() if newest_first else _HISTORY.c.id
    query = select(_HISTORY).where(_HISTORY.c.workflow_uuid == uuid).order_by(order)
    if position is not None:
        query = query.where(_HISTORY.c.position == position)
    if limit is not None:
        query = query.limit(limit)
    with store.connect() as connection:
        rows = list(connection.execute(query))
    if newest_first:
        rows.reverse()
    return [
        HistoryEntry(
            row.id,
            row.workflow_uuid,
            row.time,
            row.event,
            row.position,
            row.actor,
            row.message_id,
            row.details,
        )
        for row in rows
    ]
