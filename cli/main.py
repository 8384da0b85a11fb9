"""The `inferq` command: every entry point of the project in one CLI."""

from __future__ import annotations

import typer

from cli.bench import bench
from cli.client_commands import metrics, results, status, summary
from cli.demo import demo
from cli.evaluate import evaluate
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
from training.cli import data_app, train

app = typer.Typer(help="inferq: asynchronous batch image classification.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(data_app, name="data")
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")
app.command()(train)
app.command()(gateway)
app.command()(worker)
app.command()(sweeper)
app.command()(purge)
app.command()(webhooks)
app.command()(demo)
app.command()(bench)
for command in (
    submit,
    upload,
    status,
    jobs,
    cancel,
    results,
    summary,
    metrics,
    watch,
    evaluate,
    workers,
):
    app.command()(command)
app.command("submit-slides")(submit_slides_command)
app.command()(slides)

if __name__ == "__main__":
    app()
