"""The worker's Celery command line: event heartbeats go with task events, for Flower."""

from __future__ import annotations

from cli.services import worker_arguments


def test_a_worker_without_events_sends_no_heartbeat_events() -> None:
    arguments = worker_arguments("solo", 1, "INFO", events=False)
    assert arguments[0] == "--pool=solo"
    assert "--without-heartbeat" in arguments and "--task-events" not in arguments


def test_a_worker_with_events_sends_task_events_and_heartbeats() -> None:
    arguments = worker_arguments("solo", 1, "INFO", events=True)
    assert "--task-events" in arguments
    assert "--without-heartbeat" not in arguments
    assert {"--without-gossip", "--without-mingle"} <= set(arguments)


def test_celery_accepts_the_worker_arguments() -> None:
    from celery import Celery
    from celery.bin.base import CLIContext
    from celery.bin.worker import worker

    obj = CLIContext(app=Celery("inferq"), no_color=True, workdir=None, quiet=True)
    for events in (False, True):
        arguments = worker_arguments("solo", 1, "INFO", events=events)
        context = worker.make_context("worker", arguments, obj=obj)
        assert context.params["pool"].__module__ == "celery.concurrency.solo"
        assert context.params["queues"] and context.params["without_gossip"]
        assert context.params["task_events"] is (True if events else None)
