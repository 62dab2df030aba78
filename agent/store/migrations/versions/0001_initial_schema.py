"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21 00:56:58.427841
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
        "devices",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=True),
        sa.Column("device_count", sa.Integer(), nullable=False),
        sa.Column("agent_host", sa.String(length=255), nullable=False),
        sa.Column("agent_pid", sa.Integer(), nullable=False),
        sa.Column("config_source", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "device_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("device", sa.String(length=128), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("reachable", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pack_name", sa.String(length=128), nullable=True),
        sa.Column("pack_version", sa.String(length=64), nullable=True),
        sa.Column("pack_hash", sa.String(length=64), nullable=True),
        sa.Column("facts", sa.JSON(), nullable=True),
        sa.Column("item_errors", sa.JSON(), nullable=False),
        sa.Column("transcript", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("device_results", schema=None) as batch_op:
        batch_op.create_index(
            "ix_device_results_device_started", ["device", "started_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_device_results_run_id"), ["run_id"], unique=False)

    op.create_table(
        "check_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("check", sa.String(length=64), nullable=False),
        sa.Column("item", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("value_num", sa.Double(), nullable=True),
        sa.Column("value_text", sa.Text(), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=True),
        sa.Column("warn", sa.Double(), nullable=True),
        sa.Column("crit", sa.Double(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("waived", sa.Boolean(), nullable=False),
        sa.Column("waiver_reason", sa.Text(), nullable=True),
        sa.Column("waiver_expires", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["result_id"], ["device_results.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("check_results", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_check_results_result_id"), ["result_id"], unique=False)

    op.create_table(
        "raw_outputs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=64), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("duration_seconds", sa.Double(), nullable=True),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("output", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["result_id"], ["device_results.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("raw_outputs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_raw_outputs_result_id"), ["result_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("raw_outputs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_raw_outputs_result_id"))

    op.drop_table("raw_outputs")
    with op.batch_alter_table("check_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_check_results_result_id"))

    op.drop_table("check_results")
    with op.batch_alter_table("device_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_results_run_id"))
        batch_op.drop_index("ix_device_results_device_started")

    op.drop_table("device_results")
    op.drop_table("runs")
    op.drop_table("devices")
