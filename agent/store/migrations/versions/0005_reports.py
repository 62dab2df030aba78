"""customer reports: every generated report with its version

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=300), nullable=False),
        sa.Column("period", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("languages", sa.String(length=32), nullable=False),
        sa.Column("overall", sa.String(length=8), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scope", "period", "version", name="uq_reports_scope_period_version"),
    )


def downgrade() -> None:
    op.drop_table("reports")
