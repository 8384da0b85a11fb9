"""`inferq workers`: the worker processes, their state and model, from the database."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from cli.keys import key_store
from core.settings import get_settings
from db.models import utc_now
from db.served import live_since, read_models
from db.workers import list_workers


def workers(as_json: bool = typer.Option(False, "--json", help="One JSON object a line.")) -> None:
    """List the workers that sent a heartbeat: state, model, last seen, batches and items."""
    settings = get_settings()
    since = live_since(settings.worker_stale_seconds)
    with key_store() as session:
        rows = list_workers(session=session)
        models = read_models({row.model_id for row in rows if row.model_id}, session=session)
    now = utc_now()
    table = Table("worker", "state", "live", "model", "seen (s ago)", "batches", "items", "error")
    for row in rows:
        model = models.get(row.model_id or 0)
        named = f"{model.name} {model.version}" if model else "-"
        seen = round((now - row.last_seen_at).total_seconds(), 1)
        if as_json:
            record = {"id": row.id, "state": row.state, "live": row.last_seen_at >= since}
            record |= {"model": named, "seen_seconds_ago": seen, "items": row.items}
            typer.echo(json.dumps(record | {"batches": row.batches, "error": row.error}))
            continue
        live = "yes" if row.last_seen_at >= since else "no"
        table.add_row(
            row.id,
            row.state,
            live,
            named,
            str(seen),
            str(row.batches),
            str(row.items),
            row.error or "",
        )
    if not as_json:
        Console().print(table)
