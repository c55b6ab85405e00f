"""The schema's version: check it, create it, upgrade and downgrade it.

The tables of :mod:`workflow.storage` are versioned with `Alembic
<https://alembic.sqlalchemy.org>`_. The revisions ship inside the package
(``workflow/storage/migrations/versions``) and the revision a database is
at is recorded in a table of its own, :data:`VERSION_TABLE`, so that an
application that runs its own Alembic migrations in the same database keeps
its own ``alembic_version`` table apart.

* :func:`schema_status` says where a database stands;
* :func:`upgrade` brings it to the newest revision (or another one), and
  adopts a database created by workflow 2.2.0, which has the tables but no
  version table;
* :func:`downgrade` goes back to an older revision, never below the first
  one (that would drop every workflow);
* :func:`prepare` is what a :class:`~workflow.storage.models.WorkflowStore`
  runs the first time it is used: it creates the tables of an empty
  database at the newest revision, and refuses any other database that is
  not at it with :class:`~workflow.storage.errors.SchemaVersionError`.

Creating and changing the schema hold a lock (a PostgreSQL advisory lock,
an exclusive SQLite transaction) for the whole change, so several processes
opening a fresh database at once create it exactly once.

The ``workflow db`` commands of the command line call these functions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy
from sqlalchemy import Connection, inspect, text

from ..version import __version__
from .errors import SchemaVersionError
from .models import SCHEMA_REVISION, Base

if TYPE_CHECKING:
    import alembic.config

    from .models import WorkflowStore

__all__ = (
    "BASELINE_REVISION",
    "MIGRATIONS_DIRECTORY",
    "VERSION_TABLE",
    "SchemaStatus",
    "alembic_config",
    "downgrade",
    "head_revision",
    "include_object",
    "is_workflow_object",
    "prepare",
    "schema_status",
    "upgrade",
)

VERSION_TABLE = "workflow_alembic_version"
"""The table holding the revision of the workflow tables (not Alembic's default
``alembic_version``, which an application's own migrations may use)."""

BASELINE_REVISION = "0001"
"""The first revision: the tables exactly as workflow 2.2.0 created them."""

MIGRATIONS_DIRECTORY = Path(__file__).with_name("migrations")
"""Where the Alembic environment and the revisions are installed."""

WORKFLOW_TABLES: frozenset[str] = frozenset(Base.metadata.tables) | {VERSION_TABLE}
"""The names of the tables that belong to :mod:`workflow.storage`."""

# The PostgreSQL advisory lock serialising schema changes: "workflow" in
# ASCII, so that it cannot collide with small numbers an application uses.
_LOCK_KEY = int.from_bytes(b"workflow", "big")

UP_TO_DATE = "up to date"
BEHIND = "behind"
AHEAD = "ahead"
EMPTY = "empty"
UNVERSIONED = "unversioned"


@dataclasses.dataclass(frozen=True)
class SchemaStatus:
    """Where a database's schema stands against this version of the package.

    :ivar current: the revision recorded in the database, or ``None`` (an
        empty database, or one created by workflow 2.2.0).
    :ivar head: the revision this version of the package uses.
    :ivar state: ``"up to date"``, ``"behind"`` (upgrade the database),
        ``"ahead"`` (a newer version of the package upgraded it),
        ``"empty"`` (no workflow tables yet) or ``"unversioned"`` (the tables
        of workflow 2.2.0, without a version table: upgrade the database).
    """

    current: str | None
    head: str
    state: str

    @property
    def shown_current(self) -> str:
        """The current revision as people read it, naming the two ``None`` cases."""
        if self.current is not None:
            return self.current
        if self.state == UNVERSIONED:
            return "none (the workflow 2.2.0 schema, without a version table)"
        return "none (no workflow tables)"


def is_workflow_object(
    object: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Whether a schema item belongs to :mod:`workflow.storage`.

    The signature is that of Alembic's ``include_object`` hook; the
    package's own migrations use it to look at nothing else.
    """
    if type_ == "table":
        return name in WORKFLOW_TABLES
    table = getattr(object, "table", None)
    return getattr(table, "name", None) in WORKFLOW_TABLES


def include_object(
    object: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic ``include_object`` hook for an *application's* migrations.

    Pass it to ``context.configure(include_object=...)`` in the
    application's ``env.py`` so that its autogenerate leaves the workflow
    tables (and their version table) alone: they are migrated by
    :func:`upgrade` / ``workflow db upgrade``, not by the application.
    """
    return not is_workflow_object(object, name, type_, reflected, compare_to)


def alembic_config(connection: sqlalchemy.Connection) -> alembic.config.Config:
    """Return an Alembic :class:`~alembic.config.Config` for our migrations.

    Alembic commands (:mod:`alembic.command`) run with it work on
    ``connection``, inside whatever transaction it is in.
    """
    from alembic.config import Config

    config = Config()
    # The option goes through configparser interpolation: escape any %.
    config.set_main_option(
        "script_location", str(MIGRATIONS_DIRECTORY).replace("%", "%%")
    )
    config.attributes["connection"] = connection
    return config


def _script() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS_DIRECTORY))


def head_revision() -> str:
    """Return the newest revision shipped with the package."""
    head = _script().get_current_head()
    assert head is not None, "the package ships its baseline revision"
    return str(head)


def _status(connection: Connection) -> SchemaStatus:
    inspector = inspect(connection)
    current = None
    if inspector.has_table(VERSION_TABLE):
        revisions = (
            connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
            .scalars()
            .all()
        )
        current = ",".join(sorted(revisions)) or None
    if current is None:
        has_tables = any(inspector.has_table(table) for table in Base.metadata.tables)
        return SchemaStatus(None, SCHEMA_REVISION, UNVERSIONED if has_tables else EMPTY)
    if current == SCHEMA_REVISION:
        return SchemaStatus(current, SCHEMA_REVISION, UP_TO_DATE)
    known = {script.revision for script in _script().walk_revisions()}
    return SchemaStatus(current, SCHEMA_REVISION, BEHIND if current in known else AHEAD)


def _shown_url(store: WorkflowStore) -> str:
    return store.url.render_as_string(hide_password=True)


def _refusal(store: WorkflowStore, status: SchemaStatus) -> SchemaVersionError:
    url = _shown_url(store)
    if status.state == AHEAD:
        message = (
            f"The workflow database {url} is at schema revision {status.current},"
            f" newer than workflow {__version__} knows (its newest is"
            f" {status.head}): upgrade the workflow package, or downgrade the"
            f" database with the newer one (`workflow db downgrade {status.head}"
            f" --db {url}`)"
        )
    else:
        message = (
            f"The workflow database {url} is at schema revision"
            f" {status.shown_current}, but workflow {__version__} needs revision"
            f" {status.head}: upgrade it with `workflow db upgrade --db {url}`"
            " (or workflow.storage.schema.upgrade(store))"
        )
    return SchemaVersionError(message, status.current, status.head)


@contextmanager
def _locked(store: WorkflowStore) -> Iterator[Connection]:
    """Yield a connection holding the schema lock, committing at the end.

    The lock is held until the transaction ends, so the schema a process
    finds under it stays so until it has made its change.
    """
    with store.engine.connect() as connection:
        dialect = connection.dialect.name
        if dialect == "sqlite":
            # An exclusive transaction: other writers (and creators) wait
            # for it, up to the store's busy timeout.
            connection.exec_driver_sql("BEGIN EXCLUSIVE")
        elif dialect == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
        try:
            yield connection
            connection.commit()
        except BaseException:
            connection.rollback()
            raise


def schema_status(store: WorkflowStore) -> SchemaStatus:
    """Return where the database of ``store`` stands. Changes nothing."""
    with store.engine.connect() as connection:
        return _status(connection)


def prepare(store: WorkflowStore) -> None:
    """Create the tables of an empty database; check any other one.

    Safe when several processes do it at once: one creates the tables, the
    others wait for it and find them.

    :raises SchemaVersionError: when the database is not at the revision
        this version of the package uses; nothing is changed then.
    """
    status = schema_status(store)
    if status.state == UP_TO_DATE:
        return
    from alembic import command

    # Decided again under the lock: without it, another process creating
    # the tables may commit between the reads above (on PostgreSQL each
    # statement sees the latest commits), which would look unversioned.
    with _locked(store) as connection:
        status = _status(connection)
        if status.state == EMPTY:
            command.upgrade(alembic_config(connection), "head")
            return
    if status.state != UP_TO_DATE:
        raise _refusal(store, status)


def upgrade(store: WorkflowStore, revision: str = "head") -> SchemaStatus:
    """Upgrade the database of ``store`` to ``revision`` (default: the newest).

    An empty database gets the tables; a database created by workflow 2.2.0
    (no version table) is recorded at :data:`BASELINE_REVISION` first, its
    rows untouched. Every step runs in one transaction where the database
    allows it (PostgreSQL, SQLite), under the schema lock.

    :returns: where the database stands afterwards.
    :raises SchemaVersionError: when the database is ahead of the package.
    """
    from alembic import command

    with _locked(store) as connection:
        status = _status(connection)
        if status.state == AHEAD:
            raise _refusal(store, status)
        config = alembic_config(connection)
        if status.state == UNVERSIONED:
            command.stamp(config, BASELINE_REVISION)
        command.upgrade(config, revision)
        return _status(connection)


def downgrade(store: WorkflowStore, revision: str) -> SchemaStatus:
    """Downgrade the database of ``store`` to the older ``revision``.

    The steps undone drop what they added (columns, tables), with their
    data. Going below :data:`BASELINE_REVISION` would drop every workflow
    and is refused: drop the tables yourself if that is what you want.

    :param revision: a revision id shipped with the package, at or below
        the database's.
    :returns: where the database stands afterwards.
    :raises SchemaVersionError: when the database is ahead of the package,
        empty, or unversioned.
    :raises ValueError: for an unknown revision, one newer than the
        database's, or ``"base"``.
    """
    from alembic import command

    script = _script()
    known = [item.revision for item in script.walk_revisions()]
    if revision not in known:
        raise ValueError(
            f"Cannot downgrade to {revision!r}: the revisions of workflow"
            f" {__version__} are {', '.join(reversed(known))}; going below"
            f" {BASELINE_REVISION} would drop every workflow, so it is not offered"
        )
    with _locked(store) as connection:
        status = _status(connection)
        if status.state not in (UP_TO_DATE, BEHIND):
            if status.state == AHEAD:
                raise _refusal(store, status)
            raise SchemaVersionError(
                f"Cannot downgrade the workflow database {_shown_url(store)}: it"
                f" is at {status.shown_current}",
                status.current,
                status.head,
            )
        older = [
            item.revision for item in script.iterate_revisions(status.current, "base")
        ]
        if revision not in older:
            raise ValueError(
                f"Cannot downgrade to {revision!r}: the database is at"
                f" {status.current}, which is older; use `workflow db upgrade`"
            )
        command.downgrade(alembic_config(connection), revision)
        return _status(connection)
