"""The `inferq` command: every entry point of the project in one CLI."""

from __future__ import annotations

import typer

from cli.bench import bench
from cli.demo import demo
from cli.services import db_app, gateway, sweeper, worker

app = typer.Typer(help="inferq: asynchronous batch image classification.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.command()(gateway)
app.command()(worker)
app.command()(sweeper)
app.command()(demo)
app.command()(bench)

if __name__ == "__main__":
    app()
