"""The worker's tasks share what the process holds: one engine (one loaded model) and one
slide cache, whichever task asks first."""

from __future__ import annotations

import pytest

from core.settings import Settings
from core.tasks import INFER_ITEMS, RUN_BLOCKS, TILE_SLIDE
from tests.worker.test_inference import loaded, runtime  # noqa: F401
from worker.runtime import Runtime


def test_every_task_shares_one_engine_and_one_slide_cache(
    runtime: Runtime,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import worker.tasks
    from worker.celery_app import app

    builds: list[Settings] = []

    def build_once(settings: Settings) -> Runtime:
        builds.append(settings)
        return runtime

    monkeypatch.setattr(worker.tasks, "build_runtime", build_once)
    monkeypatch.setattr(worker.tasks.InferenceTask, "_engine", None)
    monkeypatch.setattr(worker.tasks.InferenceTask, "_slides", None)
    tasks = [app.tasks[name] for name in (RUN_BLOCKS, TILE_SLIDE, INFER_ITEMS)]
    assert len({type(task) for task in tasks}) == 3  # Celery makes a class for each task
    engines = {id(task.engine) for task in tasks}
    caches = {id(task.slides) for task in tasks}
    assert len(builds) == 1 and len(engines) == 1 and len(caches) == 1
    assert tasks[0].engine.runtime is runtime
