"""What the attack target stored: row counts read straight from its database."""

from __future__ import annotations

from sqlalchemy import create_engine, text

TABLES = (
    "jobs", "items", "idempotency_keys", "manifest_entries", "webhook_events", "slides",
    "slide_blocks", "uploads", "upload_chunks",
)  # fmt: skip


def count_rows(database_url: str) -> dict[str, int]:
    """Return the number of rows of each table a request may write."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return {
                table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in TABLES
            }
    finally:
        engine.dispose()
