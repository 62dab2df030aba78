"""agent service: plan of each run, claimed schedule times

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("plan", sa.String(length=128), nullable=True))
    op.create_table(
        "plan_fires",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan", sa.String(length=128), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan", "scheduled_for", name="uq_plan_fires_plan_time"),
    )


def downgrade() -> None:
    op.drop_table("plan_fires")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("plan")
