"""The schema of workflow 2.2.0: the workflow and object tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-04

A database created by workflow 2.2.0 (with ``create_all()``, before the
package had migrations) has exactly these tables; ``upgrade`` records it
at this revision without touching them, then applies the later ones.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workflow_workflow",
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=False),
        sa.Column("extra_data", sa.JSON(), nullable=False),
        sa.Column("token_pos", sa.Integer(), nullable=False),
        sa.Column("callback_pos", sa.JSON(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("uuid"),
    )
    op.create_index("ix_workflow_workflow_status", "workflow_workflow", ["status"])
    op.create_table(
        "workflow_object",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workflow_uuid", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("extra_data", sa.JSON(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("callback_pos", sa.JSON(), nullable=False),
        sa.Column("halt_message", sa.Text(), nullable=True),
        sa.Column("halt_action", sa.String(255), nullable=True),
        sa.Column("halt_payload", sa.JSON(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workflow_uuid", "position"),
        sa.ForeignKeyConstraint(
            ["workflow_uuid"], ["workflow_workflow.uuid"], ondelete="CASCADE"
        ),
    )
    op.create_index("ix_workflow_object_status", "workflow_object", ["status"])


def downgrade() -> None:
    op.drop_index("ix_workflow_object_status", table_name="workflow_object")
    op.drop_table("workflow_object")
    op.drop_index("ix_workflow_workflow_status", table_name="workflow_workflow")
    op.drop_table("workflow_workflow")
