"""The worker's Celery command line: event heartbeats go with task events, for Flower."""

from __future__ import annotations

from cli.services import worker_arguments


def test_a_worker_without_events_sends_no_heartbeat_events() -> None:
    arguments = worker_arguments("solo", 1, "INFO", json_logs=True, events=False)
    assert arguments[:2] == ["--quiet", "worker"]
    assert "--without-heartbeat" in arguments and "--task-events" not in arguments


def test_a_worker_with_events_sends_task_events_and_heartbeats() -> None:
    arguments = worker_arguments("solo", 1, "INFO", json_logs=False, events=True)
    assert arguments[0] == "worker" and "--task-events" in arguments
    assert "--without-heartbeat" not in arguments
    assert {"--without-gossip", "--without-mingle"} <= set(arguments)
