"""items carry their job's tenant, indexed for the fair cross-job batch claim

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 06:30:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

QUEUED = sa.text("status = 'queued'")


def upgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tenant", sa.String(length=64), nullable=False, server_default="default")
        )
    op.execute(
        "UPDATE items SET tenant = (SELECT jobs.tenant FROM jobs WHERE jobs.id = items.job_id)"
    )
    op.create_index(
        "ix_items_queued_tenant",
        "items",
        ["tenant", "created_at"],
        unique=False,
        postgresql_where=QUEUED,
        sqlite_where=QUEUED,
    )


def downgrade() -> None:
    op.drop_index("ix_items_queued_tenant", table_name="items")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("tenant")
