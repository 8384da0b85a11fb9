"""retention: jobs record when they were found final and when their images were purged

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 11:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: the purge stamps final_at when it first finds a job final.
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("final_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("images_purged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_jobs_final_at", ["final_at"])
    op.create_index("ix_items_content_hash", "items", ["content_hash"])


def downgrade() -> None:
    op.drop_index("ix_items_content_hash", table_name="items")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_final_at")
        batch_op.drop_column("images_purged_at")
        batch_op.drop_column("final_at")
