"""The Celery configuration every process shares: task events only when asked for."""

from __future__ import annotations

from pathlib import Path

from core.queue import make_celery
from core.settings import Settings


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path, _env_file=None, **values)  # type: ignore[call-arg]


def test_task_events_are_off_by_default(tmp_path: Path) -> None:
    conf = make_celery(settings(tmp_path, broker_url="redis://127.0.0.1:6379/0")).conf
    assert conf.worker_send_task_events is False and conf.task_send_sent_event is False


def test_the_setting_turns_task_events_on_for_workers_and_publishers(tmp_path: Path) -> None:
    on = settings(tmp_path, broker_url="redis://127.0.0.1:6379/0", task_events=True)
    conf = make_celery(on).conf
    assert conf.worker_send_task_events is True and conf.task_send_sent_event is True


def test_the_folder_queue_never_sends_events(tmp_path: Path) -> None:
    conf = make_celery(settings(tmp_path, task_events=True)).conf  # no broker: the folder queue
    assert conf.worker_send_task_events is False and conf.task_send_sent_event is False
