"""Claims, run history and the holding pen's indexes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

* ``workflow_workflow`` gets the claim of the process running it: a
  ``claim_token`` naming the owner, a ``heartbeat`` it renews while it runs,
  and the ``message_id`` of the task-queue message that claimed it; and an
  index on ``(created, uuid)``, the order the workflow lists page through.
* ``workflow_object`` gets an index on ``(status, halt_action, modified,
  id)``, the order of the list of halted objects grouped by action, and
  one on ``(workflow_uuid, status)``, which counts one workflow's objects
  by status without reading them.
* ``workflow_history`` is new: one row per event of a workflow's life (see
  :mod:`workflow.storage.history`), indexed by workflow and by object.

Existing rows keep every value; the new columns are empty (no claim, no
heartbeat, no message) and the history starts empty.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_workflow") as batch:
        batch.add_column(sa.Column("claim_token", sa.String(36), nullable=True))
        batch.add_column(
            sa.Column("heartbeat", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("message_id", sa.String(255), nullable=True))
    op.create_index(
        "ix_workflow_workflow_created_uuid", "workflow_workflow", ["created", "uuid"]
    )
    op.create_index(
        "ix_workflow_object_workflow_status",
        "workflow_object",
        ["workflow_uuid", "status"],
    )
    op.create_index(
        "ix_workflow_object_status_action",
        "workflow_object",
        ["status", "halt_action", "modified", "id"],
    )
    op.create_table(
        "workflow_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workflow_uuid", sa.String(36), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(255), nullable=True),
        sa.Column("message_id", sa.String(255), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(
            ["workflow_uuid"], ["workflow_workflow.uuid"], ondelete="CASCADE"
        ),
    )
    op.create_index(
        "ix_workflow_history_workflow", "workflow_history", ["workflow_uuid", "id"]
    )
    op.create_index(
        "ix_workflow_history_object",
        "workflow_history",
        ["workflow_uuid", "position", "id"],
    )
    op.create_index("ix_workflow_history_message", "workflow_history", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_workflow_history_message", table_name="workflow_history")
    op.drop_index("ix_workflow_history_object", table_name="workflow_history")
    op.drop_index("ix_workflow_history_workflow", table_name="workflow_history")
    op.drop_table("workflow_history")
    op.drop_index("ix_workflow_object_status_action", table_name="workflow_object")
    op.drop_index("ix_workflow_object_workflow_status", table_name="workflow_object")
    op.drop_index("ix_workflow_workflow_created_uuid", table_name="workflow_workflow")
    with op.batch_alter_table("workflow_workflow") as batch:
        batch.drop_column("message_id")
        batch.drop_column("heartbeat")
        batch.drop_column("claim_token")
