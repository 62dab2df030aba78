"""config history of network devices

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device", sa.String(length=128), nullable=False),
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("masked", sa.Boolean(), nullable=False),
        sa.Column("text", sa.LargeBinary(), nullable=False),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("diff", sa.LargeBinary(), nullable=True),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["result_id"], ["device_results.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["previous_id"], ["config_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_config_versions_device_collected", "config_versions",
                    ["device", "collected_at"])
    op.create_index(op.f("ix_config_versions_result_id"), "config_versions", ["result_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_config_versions_result_id"), table_name="config_versions")
    op.drop_index("ix_config_versions_device_collected", table_name="config_versions")
    op.drop_table("config_versions")
