"""incidents: incidents, their timeline, rule trackers, notification outbox, problems

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ACTIVE = sa.text("status IN ('open', 'acknowledged')")
_OPEN = sa.text("status = 'open'")


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "problems",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("device", sa.String(length=128), nullable=False),
        sa.Column("check", sa.String(length=64), nullable=False),
        sa.Column("item", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("incident_count", sa.Integer(), nullable=False),
        sa.Column("known_error", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("uq_problems_open_key", "problems", ["key"], unique=True,
                    sqlite_where=_OPEN, postgresql_where=_OPEN)
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=128), nullable=False),
        sa.Column("check", sa.String(length=64), nullable=False),
        sa.Column("item", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("worst_value", sa.Text(), nullable=True),
        sa.Column("worst_num", sa.Double(), nullable=True),
        sa.Column("threshold", sa.Text(), nullable=True),
        sa.Column("impact", sa.Integer(), nullable=False),
        sa.Column("urgency", sa.Integer(), nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assignee_group", sa.String(length=128), nullable=True),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.Column("silenced", sa.Boolean(), nullable=False),
        sa.Column("notified", sa.Boolean(), nullable=False),
        sa.Column("business_system", sa.Text(), nullable=True),
        sa.Column("location", sa.Text(), nullable=True),
        _ts("opened_at"),
        _ts("acknowledged_at", nullable=True),
        _ts("resolved_at", nullable=True),
        _ts("closed_at", nullable=True),
        _ts("last_seen_at"),
        sa.Column("breach_count", sa.Integer(), nullable=False),
        sa.Column("result_id", sa.Integer(), nullable=True),
        sa.Column("problem_id", sa.Integer(), nullable=True),
        sa.Column("known_error", sa.String(length=128), nullable=True),
        sa.Column("workaround", sa.Text(), nullable=True),
        sa.Column("escalations", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["result_id"], ["device_results.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["problem_id"], ["problems.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("uq_incidents_active_fingerprint", "incidents", ["fingerprint"],
                    unique=True, sqlite_where=_ACTIVE, postgresql_where=_ACTIVE)
    op.create_index("ix_incidents_status_priority", "incidents", ["status", "priority"])
    op.create_index("ix_incidents_device", "incidents", ["device"])
    op.create_index("ix_incidents_problem_id", "incidents", ["problem_id"])
    op.create_table(
        "incident_timeline",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        _ts("at"),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incident_timeline_incident_id", "incident_timeline", ["incident_id"])
    op.create_table(
        "incident_trackers",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=128), nullable=False),
        sa.Column("check", sa.String(length=64), nullable=False),
        sa.Column("item", sa.Text(), nullable=True),
        sa.Column("breaches", sa.Integer(), nullable=False),
        sa.Column("recoveries", sa.Integer(), nullable=False),
        sa.Column("history", sa.String(length=100), nullable=False),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("fingerprint"),
    )
    op.create_index("ix_incident_trackers_device", "incident_trackers", ["device"])
    op.create_table(
        "incident_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("notifier", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("event", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"),
        _ts("created_at"),
        _ts("sent_at", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("resend", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incident_outbox_incident_id", "incident_outbox", ["incident_id"])
    op.create_index("ix_incident_outbox_status_next", "incident_outbox",
                    ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("incident_outbox")
    op.drop_table("incident_trackers")
    op.drop_table("incident_timeline")
    op.drop_table("incidents")
    op.drop_table("problems")
