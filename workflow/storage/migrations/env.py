"""Alembic environment of :mod:`workflow.storage`.

It runs on the connection that :mod:`workflow.storage.schema` hands over in
``config.attributes["connection"]``, inside the transaction (and lock) that
module holds, and records the revision in the package's own version table,
so that an application's own Alembic history never sees it.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from workflow.storage.models import Base
from workflow.storage.schema import VERSION_TABLE, is_workflow_object

connection: Any = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "workflow.storage migrations run on a connection: use"
        " workflow.storage.schema.upgrade(store) or `workflow db upgrade`,"
        " not the alembic command line"
    )
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    # Only our own tables: an application's tables in the same database are
    # none of these migrations' business (autogenerate would drop them).
    include_object=is_workflow_object,
    # SQLite alters tables by copying them: let new revisions say so.
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
