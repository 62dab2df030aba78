"""scale-out: one result per device and run, so a task retried by another worker (acks late)
cannot store a device twice

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("uq_device_results_run_device", "device_results", ["run_id", "device"],
                    unique=True)


def downgrade() -> None:
    op.drop_index("uq_device_results_run_device", table_name="device_results")
