"""Commands that run inferq's long-lived processes and migrations."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TYPE_CHECKING

import typer

from core.heap import freeze_without_collecting, pause_collection
from core.logging import configure_logging
from core.settings import get_settings

if TYPE_CHECKING:
    from celery import Celery
    from fastapi import FastAPI

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the database to the latest schema (safe to run again)."""
    from db.migrate import upgrade

    settings = get_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    upgrade(settings.resolved_database_url, revision)
    typer.echo(f"database at revision {revision}")


def gateway(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, envvar="PORT", help="Port (Cloud Run sets PORT)."),
    workers: int = typer.Option(1, help="Uvicorn worker processes."),
) -> None:
    """Serve the HTTP API."""
    import uvicorn

    from gateway.protocol import PROTOCOL

    settings = get_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    # Hand the GIL over every 1 ms, not 5: the event loop (probes, waiting /predict calls)
    # gets its turn sooner while request threads parse uploads.
    sys.setswitchinterval(0.001)
    if workers == 1:
        # No cyclic garbage collection while the process imports and builds the app: every
        # pass would walk the start's long-lived objects (about 0.2 s of CPU before the first
        # /readyz). create_gateway turns it back on (core.heap).
        pause_collection()
    uvicorn.run(
        "cli.services:create_gateway",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        timeout_graceful_shutdown=8,
        # httptools with bounded heads and read timeouts (INFERQ_MAX_HEADER_*, *_TIMEOUT_SECONDS)
        http=PROTOCOL,
    )


def create_gateway() -> FastAPI:
    """Build the gateway app, then collect garbage again, skipping what the start made."""
    from gateway.app import create_app

    app = create_app()
    freeze_without_collecting()  # modules, classes and routes live as long as the process
    app.state.warm_up.armed = True  # the first admitted request's loads frozen too
    return app


def worker(
    pool: str = typer.Option("solo", help="solo (one process) or prefork."),
    concurrency: int = typer.Option(1, help="Processes, for the prefork pool."),
    loglevel: str = typer.Option("INFO"),
) -> None:
    """Consume inference tasks; the model loads once the worker process has started.

    SIGTERM is Celery's warm shutdown: the running batch finishes and prefetched tasks go
    back to the broker. Keep a batch well under 10 s (Cloud Run's SIGKILL); a worker killed
    mid-batch leaves a lease that expires, and the sweeper republishes its items.
    """
    settings = get_settings()
    # No cyclic garbage collection while TensorFlow and the model load: about 0.8 s of
    # passes over their objects. Turned back on once the model serves (core.heap).
    pause_collection()
    # Below the gateway on a shared machine: the intake answers sooner, and the queue the
    # worker finds is longer, so it runs fewer, fuller batches (docs/batching.md).
    os.nice(settings.worker_nice)
    # TensorFlow's C++ INFO notices (CPU features) off once absl starts; its warnings stay.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    if settings.log_json:  # every line JSON: no Python warning or TensorFlow notice on its own
        from worker.native_logs import route_native_output

        route_native_output()
        configure_logging(settings.log_level, json_lines=True)
        logging.captureWarnings(True)
    from worker.celery_app import app

    events = bool(app.conf.worker_send_task_events)  # INFERQ_TASK_EVENTS, via make_celery
    arguments = worker_arguments(pool, concurrency, loglevel, events=events)
    run_celery_worker(app, arguments, quiet=settings.log_json)  # Celery's banner is not JSON


def worker_arguments(pool: str, concurrency: int, loglevel: str, *, events: bool) -> list[str]:
    """Return the options of Celery's worker command; event heartbeats only beside task events."""
    from core.priority import consumed_queues

    return [
        f"--pool={pool}",
        f"--concurrency={concurrency}",
        f"--queues={','.join(consumed_queues())}",  # most urgent first: the broker's order
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
        # Flower shows a worker offline without its heartbeat events; without Flower they
        # are messages nobody reads.
        *(["--task-events"] if events else ["--without-heartbeat"]),
    ]


def run_celery_worker(app: Celery, arguments: list[str], *, quiet: bool) -> None:
    """Run Celery's `worker` command on the app, as `celery worker` would.

    `app.worker_main` goes through the whole `celery` command group, whose other commands
    import a REPL toolkit among others (about a third of a second of a worker's start); the
    worker command alone, given the context the group would make, does the same.
    """
    from celery.bin.base import CLIContext
    from celery.bin.worker import worker as celery_worker

    context = CLIContext(
        app=app, no_color=bool(os.environ.get("NO_COLOR")), workdir=None, quiet=quiet
    )
    celery_worker.main(
        args=arguments, prog_name="celery worker", obj=context, standalone_mode=False
    )


def sweeper(once: bool = typer.Option(False, help="Sweep once and exit.")) -> None:
    """Republish stalled items and fail those out of attempts (standalone sweeper)."""
    from core.queue import make_celery
    from worker.sweeper import sweep_once

    settings = get_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    app = make_celery(settings)
    while True:
        failed, republished = sweep_once(settings, app)
        if once:
            typer.echo(f"failed {failed}, republished {republished}")
            return
        time.sleep(settings.sweep_interval_seconds)


def webhooks(once: bool = typer.Option(False, help="Send what is due once and exit.")) -> None:
    """Deliver due webhook events (standalone sender, beside INFERQ_EMBEDDED_WEBHOOKS=false)."""
    from worker.webhooks import send_due

    settings = get_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    while True:
        sent = send_due(settings)
        if once:
            typer.echo(f"attempted {sent}")
            return
        time.sleep(settings.webhook_poll_seconds)
