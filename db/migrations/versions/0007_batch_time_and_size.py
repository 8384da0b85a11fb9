"""results keep their batch's model time and size beside the item's share

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: results written before this revision recorded the batch's time as their
    # inference_ms and no size; they keep what they had.
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_ms", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("batch_size", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.drop_column("batch_size")
        batch_op.drop_column("batch_ms")
