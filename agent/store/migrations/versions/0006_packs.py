"""custom packs: approvals per content hash and scope, the packs each result ran, check titles

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_WIDENED = (("check_results", "check"), ("raw_outputs", "item"), ("incidents", "check"),
            ("incident_trackers", "check"), ("problems", "check"))


def upgrade() -> None:
    op.create_table(
        "pack_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pack_name", sa.String(length=64), nullable=False),
        sa.Column("pack_version", sa.String(length=64), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=128), nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pack_approvals_pack_scope", "pack_approvals", ["pack_name", "scope"])
    op.add_column("device_results", sa.Column("packs", sa.JSON(), nullable=True))
    op.add_column("check_results", sa.Column("title", sa.Text(), nullable=True))
    # Pack check names are PACK.CHECK and pack items PACK.ITEM: up to 129 characters. SQLite
    # does not enforce VARCHAR lengths (and rebuilding its tables would risk partial indexes).
    if op.get_bind().dialect.name != "sqlite":
        for table, column in _WIDENED:
            op.alter_column(table, column, type_=sa.String(length=160),
                            existing_type=sa.String(length=64), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        for table, column in _WIDENED:
            op.alter_column(table, column, type_=sa.String(length=64),
                            existing_type=sa.String(length=160), existing_nullable=False)
    with op.batch_alter_table("check_results") as batch:
        batch.drop_column("title")
    with op.batch_alter_table("device_results") as batch:
        batch.drop_column("packs")
    op.drop_index("ix_pack_approvals_pack_scope", table_name="pack_approvals")
    op.drop_table("pack_approvals")
