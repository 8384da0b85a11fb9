"""The `inferq` command: every entry point of the project in one CLI.

Commands are imported only when they run (cli.lazy): `inferq worker` loads the worker and
nothing of the bench or the client. An installation may hold only some packages (the
gateway image has no training or evaluation, the worker image no evaluation): their
commands are then left out.
"""

from __future__ import annotations

import typer

from cli.lazy import LazyEntry, LazyGroup

COMMANDS = (
    LazyEntry("gateway", "cli.services:gateway", "Serve the HTTP API."),
    LazyEntry(
        "worker",
        "cli.services:worker",
        "Consume inference tasks; the model loads once the worker process has started.",
    ),
    LazyEntry(
        "sweeper",
        "cli.services:sweeper",
        "Republish stalled items and fail those out of attempts (standalone sweeper).",
    ),
    LazyEntry(
        "purge",
        "cli.purge:purge",
        "Delete the images and then the rows of final jobs past their retention.",
    ),
    LazyEntry(
        "webhooks",
        "cli.services:webhooks",
        "Deliver due webhook events (standalone sender, beside INFERQ_EMBEDDED_WEBHOOKS=false).",
    ),
    LazyEntry(
        "demo",
        "cli.demo:demo",
        "Train if needed, start gateway and worker, submit a folder, print the results.",
    ),
    LazyEntry(
        "bench",
        "cli.bench:bench",
        "Measure raw vs end-to-end throughput and latency on real PostgreSQL and Redis.",
    ),
    LazyEntry(
        "submit",
        "cli.submit:submit",
        "Upload files and folders as one job (several requests if needed), then the results.",
    ),
    LazyEntry(
        "upload",
        "cli.upload:upload",
        "Upload files in chunks; run again after an interruption to send only what is missing.",
    ),
    LazyEntry(
        "status",
        "cli.client_commands:status",
        "Show jobs' status and progress counts (many jobs in one request per 100).",
    ),
    LazyEntry(
        "jobs",
        "cli.job_commands:jobs",
        "List the tenant's jobs, newest first: status, counts and when each expires.",
    ),
    LazyEntry(
        "cancel",
        "cli.job_commands:cancel",
        "Cancel jobs: images not started are never classified; finished ones keep results.",
    ),
    LazyEntry(
        "results",
        "cli.client_commands:results",
        "Print a job's results, or write them to --out (.csv or .json).",
    ),
    LazyEntry(
        "summary",
        "cli.client_commands:summary",
        "Print a job's per-patient summary, or write it to --out (.csv or .json).",
    ),
    LazyEntry("metrics", "cli.client_commands:metrics", "Print the service-wide metrics as JSON."),
    LazyEntry(
        "watch",
        "cli.watch:watch",
        "Send each new file of FOLDER once it is complete, at most once even across restarts.",
    ),
    LazyEntry(
        "workers",
        "cli.workers:workers",
        "List the workers that sent a heartbeat: state, model, last seen, batches and items.",
    ),
    LazyEntry(
        "submit-slides",
        "cli.slide_commands:submit_slides_command",
        "Submit slides: uploaded from this machine (--upload, resumable) or by reference.",
    ),
    LazyEntry(
        "slides",
        "cli.slide_commands:slides",
        "Show a job's slides (progress, call); download their outputs into folders.",
    ),
    LazyEntry(
        "train",
        "training.cli:train",
        "Train a model on a dataset (synthetic if none given) and export it for the workers.",
        requires="training",
    ),
    LazyEntry(
        "evaluate",
        "cli.evaluate:evaluate",
        "Send a labelled folder through the API, report metrics, and apply the deploy gate.",
        requires="evaluation",
    ),
    LazyEntry("db", "cli.services:db_app", "Database schema."),
    LazyEntry("keys", "cli.keys:keys_app", "API keys (stored hashed; a key is shown once)."),
    LazyEntry(
        "models",
        "cli.models:models_app",
        "Import a Keras model; list, promote and roll back registered versions.",
    ),
    LazyEntry("data", "training.cli:data_app", "Make training data.", requires="training"),
)


class InferqGroup(LazyGroup):
    """The `inferq` group: every command above, imported when it runs."""

    entries = COMMANDS


app = typer.Typer(
    cls=InferqGroup,
    help="inferq: asynchronous batch image classification.",
    no_args_is_help=True,
)


@app.callback()
def main() -> None:
    """Run one of inferq's commands (the group needs a callback to exist without eager ones)."""


if __name__ == "__main__":
    app()
