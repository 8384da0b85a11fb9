"""whole-slide images: slides and their tile blocks

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-02 12:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slides",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=2048), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tiled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("mpp", sa.Float(), nullable=True),
        sa.Column("tile_size0", sa.Integer(), nullable=True),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("read_size", sa.Integer(), nullable=True),
        sa.Column("thumbnail_hash", sa.String(length=64), nullable=True),
        sa.Column("n_tiles", sa.Integer(), nullable=True),
        sa.Column("n_blocks", sa.Integer(), nullable=True),
        sa.Column("blocks_done", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("call", sa.String(length=255), nullable=True),
        sa.Column("positive_tiles", sa.Integer(), nullable=True),
        sa.Column("positive_area_mm2", sa.Float(), nullable=True),
        sa.Column("tissue_area_mm2", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["id"], ["items.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_slides_job_id", "slides", ["job_id"])
    op.create_index("ix_slides_status_lease", "slides", ["status", "lease_expires_at"])
    op.create_table(
        "slide_blocks",
        sa.Column("slide_id", sa.Uuid(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("n_tiles", sa.Integer(), nullable=False),
        sa.Column("corners", sa.LargeBinary(), nullable=False),
        sa.Column("probabilities", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["slide_id"], ["slides.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("slide_id", "index"),
    )
    op.create_index(
        "ix_slide_blocks_claimable",
        "slide_blocks",
        ["created_at"],
        postgresql_where=sa.text("status = 'queued'"),
        sqlite_where=sa.text("status = 'queued'"),
    )
    op.create_index("ix_slide_blocks_status_lease", "slide_blocks", ["status", "lease_expires_at"])


def downgrade() -> None:
    op.drop_table("slide_blocks")
    op.drop_table("slides")
