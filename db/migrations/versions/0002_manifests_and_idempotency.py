"""manifest metadata on items, manifest entries, idempotency keys

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 08:42:23.438341
"""

from alembic import op
import sqlalchemy as sa


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("true_label", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("patient_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("slide_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("attributes", sa.JSON(), nullable=True))
        batch_op.create_index("ix_items_job_hash", ["job_id", "content_hash"], unique=False)

    op.create_table(
        "manifest_entries",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=1024), nullable=False),
        sa.Column("true_label", sa.String(length=255), nullable=True),
        sa.Column("patient_id", sa.String(length=255), nullable=True),
        sa.Column("slide_id", sa.String(length=255), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=True),
        sa.Column("matched", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "filename"),
    )

    op.create_table(
        "idempotency_keys",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant", "key"),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idempotency_keys_job_id"), ["job_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_job_id"))

    op.drop_table("idempotency_keys")
    op.drop_table("manifest_entries")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index("ix_items_job_hash")
        batch_op.drop_column("attributes")
        batch_op.drop_column("slide_id")
        batch_op.drop_column("patient_id")
        batch_op.drop_column("true_label")
