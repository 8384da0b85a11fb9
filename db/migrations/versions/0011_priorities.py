"""job and item priorities, the claim index by priority, tenant priority defaults and caps

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 11:45:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

QUEUED = sa.text("status = 'queued'")


def upgrade() -> None:
    for table in ("jobs", "items"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="1")
            )
    op.drop_index("ix_items_queued_tenant", table_name="items")
    op.create_index(
        "ix_items_queued_tenant",
        "items",
        ["tenant", "priority", "created_at"],
        postgresql_where=QUEUED,
        sqlite_where=QUEUED,
    )
    op.create_table(
        "tenant_priorities",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("default_priority", sa.SmallInteger(), nullable=True),
        sa.Column("max_priority", sa.SmallInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant"),
    )


def downgrade() -> None:
    op.drop_table("tenant_priorities")
    op.drop_index("ix_items_queued_tenant", table_name="items")
    op.create_index(
        "ix_items_queued_tenant",
        "items",
        ["tenant", "created_at"],
        postgresql_where=QUEUED,
        sqlite_where=QUEUED,
    )
    for table in ("items", "jobs"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("priority")
