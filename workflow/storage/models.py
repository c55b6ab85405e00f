"""The database schema of :mod:`workflow.storage`, and the store that owns it.

Three tables:

``workflow_workflow`` (:class:`WorkflowRecord`)
    one row per workflow: its uuid, definition name, status, the engine's
    ``extra_data``, the machine state (``token_pos``, ``callback_pos``), the
    fingerprint of the definition it runs, a ``version`` counter that a
    process increments when it takes the workflow over (optimistic locking),
    and the claim of the process running it (``claim_token``, ``heartbeat``,
    ``message_id``).

``workflow_object`` (:class:`ObjectRecord`)
    one row per object: its position in the workflow, its ``data`` and
    ``extra_data`` (JSON), status, the task position it stopped at, and the
    halt or error details.

``workflow_history`` (:class:`HistoryRecord`)
    one row per event of a workflow's life: runs, halts, errors, take-overs
    and people's actions, with when, who and which message
    (:mod:`workflow.storage.history`).

Statuses are stored as the integer values of
:class:`~workflow.engine_db.WorkflowStatus` and
:class:`~workflow.engine_db.ObjectStatus`.

The schema is versioned: :data:`SCHEMA_REVISION` is the Alembic revision
these models match, and :mod:`workflow.storage.schema` creates, checks and
upgrades databases.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)

__all__ = (
    "DEFAULT_LEASE",
    "SCHEMA_REVISION",
    "Base",
    "HistoryRecord",
    "ObjectRecord",
    "WorkflowRecord",
    "WorkflowStore",
    "utcnow",
)

SCHEMA_REVISION = "0002"
"""The revision of the migrations (:mod:`workflow.storage.schema`) that these
models match: a store uses only databases at this revision."""


DEFAULT_LEASE = datetime.timedelta(minutes=5)
"""How long a RUNNING workflow's owner counts as alive after its last
heartbeat, unless its store says otherwise (:class:`WorkflowStore`)."""


def utcnow() -> datetime.datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.datetime.now(datetime.timezone.utc)


def _as_utc(value: datetime.datetime) -> datetime.datetime:
    """Return ``value`` as an aware UTC datetime, taking a naive one as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


class UTCDateTime(TypeDecorator[datetime.datetime]):
    """A timestamp stored in UTC and always read back as an aware UTC datetime.

    A naive value is taken as UTC. SQLite keeps no time zone; PostgreSQL
    takes naive values in, and returns every value in, the session's time
    zone. This type makes both store and return the same values, whatever
    that time zone.
    """

    impl: DateTime = DateTime(timezone=True)
    cache_ok: bool = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        value = _as_utc(value)
        if dialect.name == "sqlite":
            value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return None if value is None else _as_utc(value)


class Base(DeclarativeBase):
    """Declarative base of the storage models."""


class WorkflowRecord(Base):
    """A stored workflow: one run of a named definition over its objects."""

    __tablename__ = "workflow_workflow"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow)
    extra_data: Mapped[Any] = mapped_column(JSON, default=dict)
    token_pos: Mapped[int] = mapped_column(Integer, default=-1)
    callback_pos: Mapped[Any] = mapped_column(JSON, default=lambda: [0])
    fingerprint: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=0)
    claim_token: Mapped[Optional[str]] = mapped_column(String(36), default=None)  # noqa: UP045
    heartbeat: Mapped[Optional[datetime.datetime]] = mapped_column(  # noqa: UP045
        UTCDateTime, default=None
    )
    message_id: Mapped[Optional[str]] = mapped_column(String(255), default=None)  # noqa: UP045

    objects: Mapped[list[ObjectRecord]] = relationship(
        back_populates="workflow",
        order_by="ObjectRecord.position",
        cascade="all, delete-orphan",
    )

    __table_args__: tuple[Any, ...] = (
        Index("ix_workflow_workflow_status", "status"),
        Index("ix_workflow_workflow_created_uuid", "created", "uuid"),
    )

    def __repr__(self) -> str:
        return f"<WorkflowRecord {self.uuid} {self.name!r} status={self.status}>"


class ObjectRecord(Base):
    """A stored object: one token of a workflow, with its data and status."""

    __tablename__ = "workflow_object"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workflow_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("workflow_workflow.uuid", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    data: Mapped[Any] = mapped_column(JSON(none_as_null=False))
    extra_data: Mapped[Any] = mapped_column(JSON, default=dict)
    status: Mapped[int] = mapped_column(Integer, default=0)
    callback_pos: Mapped[Any] = mapped_column(JSON, default=lambda: [0])
    # Optional[], not "X | None": SQLAlchemy evaluates these annotations at
    # runtime, and Python 3.9 cannot evaluate the | form.
    halt_message: Mapped[Optional[str]] = mapped_column(Text, default=None)  # noqa: UP045
    halt_action: Mapped[Optional[str]] = mapped_column(String(255), default=None)  # noqa: UP045
    halt_payload: Mapped[Any] = mapped_column(
        JSON(none_as_null=True), nullable=True, default=None
    )
    error_message: Mapped[Optional[str]] = mapped_column(Text, default=None)  # noqa: UP045
    created: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow)

    workflow: Mapped[WorkflowRecord] = relationship(back_populates="objects")

    __table_args__: tuple[Any, ...] = (
        UniqueConstraint("workflow_uuid", "position"),
        Index("ix_workflow_object_status", "status"),
        Index("ix_workflow_object_workflow_status", "workflow_uuid", "status"),
        Index(
            "ix_workflow_object_status_action",
            "status",
            "halt_action",
            "modified",
            "id",
        ),
    )

    def __repr__(self) -> str:
        return (
            f"<ObjectRecord {self.id} of {self.workflow_uuid}"
            f" position={self.position} status={self.status}>"
        )


class HistoryRecord(Base):
    """An event of a workflow's life (see :mod:`workflow.storage.history`)."""

    __tablename__ = "workflow_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workflow_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("workflow_workflow.uuid", ondelete="CASCADE")
    )
    time: Mapped[datetime.datetime] = mapped_column(UTCDateTime, default=utcnow)
    event: Mapped[str] = mapped_column(String(32))
    position: Mapped[Optional[int]] = mapped_column(Integer, default=None)  # noqa: UP045
    actor: Mapped[Optional[str]] = mapped_column(String(255), default=None)  # noqa: UP045
    message_id: Mapped[Optional[str]] = mapped_column(String(255), default=None)  # noqa: UP045
    details: Mapped[Any] = mapped_column(
        JSON(none_as_null=True), nullable=True, default=None
    )

    __table_args__: tuple[Any, ...] = (
        Index("ix_workflow_history_workflow", "workflow_uuid", "id"),
        Index("ix_workflow_history_object", "workflow_uuid", "position", "id"),
        Index("ix_workflow_history_message", "message_id"),
    )

    def __repr__(self) -> str:
        return (
            f"<HistoryRecord {self.id} of {self.workflow_uuid} {self.event}"
            f" position={self.position}>"
        )


def _set_sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    # WAL lets readers work while a workflow writes; NORMAL synchronous is
    # durable across process crashes (only an OS crash may lose the last
    # commits); the busy timeout makes concurrent writers wait, not fail.
    # The busy timeout comes first: switching a new file to WAL takes a
    # lock that another process opening it at the same moment may hold.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


class WorkflowStore:
    """Where workflows are stored: a database URL and its SQLAlchemy engine.

    :param url: a SQLAlchemy URL, e.g. ``sqlite:///workflow.db`` (a file in
        the working directory) or ``postgresql+psycopg://user@host/dbname``.
    :param lease: how long the process running a workflow counts as alive
        after its last heartbeat (written when it claims the workflow and at
        every object boundary). Past it, ``take_over=True`` may take the
        workflow over. Make it longer than the slowest object takes, and
        than the clocks of the machines sharing the database differ.
    :param object_history: record ``object_started`` and ``object_finished``
        events in the run history (:mod:`workflow.storage.history`), two
        rows per object; off by default, as they cost about as much as the
        object's own save. Runs, halts, errors and take-overs are always
        recorded.
    :param engine_kwargs: passed on to :func:`sqlalchemy.create_engine`.

    :ivar engine: the :class:`sqlalchemy.engine.Engine`.
    :ivar lease: the lease, a :class:`~datetime.timedelta`.
    :ivar object_history: whether per-object events are recorded.

    SQLite connections use the write-ahead log, ``synchronous=NORMAL``,
    foreign keys and a 30 s busy timeout. Creating a store connects to
    nothing. The first time the storage uses it (or at :meth:`create_all`),
    the store creates the tables of an empty database, at the schema
    revision of this version of the package, and refuses a database at any
    other revision with :class:`~workflow.storage.errors.SchemaVersionError`
    (see :mod:`workflow.storage.schema`). Call :meth:`dispose` (or use the
    store as a context manager) to close the connections.
    """

    def __init__(
        self,
        url: str = "sqlite:///workflow.db",
        *,
        lease: datetime.timedelta = DEFAULT_LEASE,
        object_history: bool = False,
        **engine_kwargs: Any,
    ):
        if not isinstance(lease, datetime.timedelta) or lease <= datetime.timedelta(0):
            raise ValueError(
                f"WorkflowStore lease must be a positive datetime.timedelta, not"
                f" {lease!r}"
            )
        self.lease: datetime.timedelta = lease
        self.object_history: bool = bool(object_history)
        try:
            parsed = make_url(url)
        except Exception as exc:
            raise ValueError(
                f"WorkflowStore url {url!r} is not a database URL; use e.g."
                " 'sqlite:///workflow.db' or 'postgresql+psycopg://user@host/db'"
            ) from exc
        self.url: URL = parsed
        self.engine: Engine = create_engine(parsed, **engine_kwargs)
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _set_sqlite_pragmas)
        self._sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self._prepared = False
        self._preparing = threading.Lock()

    def create_all(self) -> None:
        """Create the tables of an empty database; check any other database.

        The tables are created at :data:`SCHEMA_REVISION`, once even when
        several processes do it at the same moment. The storage calls this
        itself the first time it uses the store; calling it again does
        nothing.

        :raises SchemaVersionError: when the database is at another
            revision (behind or ahead): the message names both and the
            command to run.
        """
        with self._preparing:
            if self._prepared:
                return
            from .schema import prepare

            prepare(self)
            self._prepared = True

    def connect(self) -> Connection:
        """Return a new connection, the schema checked first (:meth:`create_all`)."""
        if not self._prepared:
            self.create_all()
        return self.engine.connect()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """Yield a connection in a transaction, the schema checked first.

        The transaction commits when the block ends normally and rolls back
        when it raises.
        """
        if not self._prepared:
            self.create_all()
        with self.engine.begin() as connection:
            yield connection

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Yield a :class:`~sqlalchemy.orm.Session` in a transaction.

        The schema is checked first (:meth:`create_all`). The transaction
        commits when the block ends normally and rolls back when it raises.
        """
        if not self._prepared:
            self.create_all()
        with self._sessionmaker.begin() as session:
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> WorkflowStore:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.dispose()

    def __repr__(self) -> str:
        return f"<WorkflowStore {self.url.render_as_string(hide_password=True)}>"
