"""The `inferq` command: every entry point of the project in one CLI.

An installation may hold only some packages (the gateway image has no training or
evaluation, the worker image no evaluation): their commands are then left out.
"""

from __future__ import annotations

import importlib.util

import typer

from cli.bench import bench
from cli.client_commands import metrics, results, status, summary
from cli.demo import demo
from cli.job_commands import cancel, jobs
from cli.keys import keys_app
from cli.models import models_app
from cli.purge import purge
from cli.services import db_app, gateway, sweeper, webhooks, worker
from cli.slide_commands import slides, submit_slides_command
from cli.submit import submit
from cli.upload import upload
from cli.watch import watch
from cli.workers import workers


def installed(package: str) -> bool:
    """Return whether a project package is part of this installation."""
    try:
        return importlib.util.find_spec(package) is not None
    except ModuleNotFoundError:  # a finder that refuses the name outright
        return False


def add_optional_commands(app: typer.Typer) -> None:
    """Add the commands of the training and evaluation packages, where installed."""
    if installed("training"):
        from training.cli import data_app, train

        app.add_typer(data_app, name="data")
        app.command()(train)
    if installed("evaluation"):
        from cli.evaluate import evaluate

        app.command()(evaluate)


app = typer.Typer(help="inferq: asynchronous batch image classification.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")
app.command()(gateway)
app.command()(worker)
app.command()(sweeper)
app.command()(purge)
app.command()(webhooks)
app.command()(demo)
app.command()(bench)
for command in (submit, upload, status, jobs, cancel, results, summary, metrics, watch, workers):
    app.command()(command)
app.command("submit-slides")(submit_slides_command)
app.command()(slides)
add_optional_commands(app)

if __name__ == "__main__":
    app()
