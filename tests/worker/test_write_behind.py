"""The model runs on the next batch while the last one's results are written, and a write
that fails hands back its batch, the batch scored after it and the prefetched one."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from db.models import Item, Result
from db.session import get_session
from tests.worker.test_inference import loaded, runtime, submit_singles, tile  # noqa: F401
from worker import engine as engine_module
from worker.engine import BatchEngine
from worker.runtime import Runtime


def rows(runtime: Runtime) -> tuple[list[str], int]:  # noqa: F811
    """Every item's status, and how many results there are."""
    with get_session(runtime.settings.resolved_database_url) as session:
        statuses = sorted(session.scalars(select(Item.status)))
        return statuses, len(session.scalars(select(Result)).all())


def test_the_model_runs_on_the_next_batch_while_the_last_is_written(
    runtime: Runtime,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tasks = submit_singles(runtime, [tile(500 + i) for i in range(20)])  # 8 + 8 + 4
    model = runtime.served.model
    predict, persist = model.predict, engine_module.persist
    second_model_run = threading.Event()
    calls: list[int] = []
    overlapped: list[bool] = []

    def counted_predict(images):  # type: ignore[no-untyped-def]
        calls.append(len(images))
        if len(calls) == 2:
            second_model_run.set()
        return predict(images)

    def held_persist(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not overlapped:  # the first batch's write waits until the model runs the second
            overlapped.append(second_model_run.wait(timeout=10))
        return persist(*args, **kwargs)

    monkeypatch.setattr(model, "predict", counted_predict)
    monkeypatch.setattr(engine_module, "persist", held_persist)
    assert BatchEngine(runtime).serve(tasks[0]) == 20
    assert overlapped == [True]  # run in turn, the second batch would wait for that write
    assert calls == [8, 8, 4]
    assert rows(runtime) == (["succeeded"] * 20, 20)
    assert (runtime.metrics.batches, runtime.metrics.items) == (3, 20)


def test_a_failed_write_hands_back_every_batch_of_the_drain(
    runtime: Runtime,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tasks = submit_singles(runtime, [tile(600 + i) for i in range(20)])

    def broken(*_: object, **__: object) -> int:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(engine_module, "persist", broken)
    with pytest.raises(RuntimeError, match="went away"):
        BatchEngine(runtime).serve(tasks[0])
    statuses, results = rows(runtime)
    assert statuses == ["queued"] * 20 and results == 0  # written, scored and prefetched
    with get_session(runtime.settings.resolved_database_url) as session:
        assert set(session.scalars(select(Item.attempts))) == {0}  # no attempt spent
    assert runtime.recent.covers(tasks[0]) is False  # a redelivery claims them again


def test_a_batch_holding_a_lost_item_runs_once_the_write_before_it_landed(
    runtime: Runtime,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tasks = submit_singles(runtime, [tile(700 + i) for i in range(8)])  # a full first batch
    (lost,) = submit_singles(runtime, [tile(710)])
    with get_session(runtime.settings.resolved_database_url) as session:
        item = session.get(Item, lost[0])
        assert item is not None
        item.attempts = 1  # claimed once by a worker that never came back
    model = runtime.served.model
    predict, persist = model.predict, engine_module.persist
    written: list[int] = []
    runs: list[tuple[int, int]] = []

    def noted_predict(images):  # type: ignore[no-untyped-def]
        runs.append((len(images), len(written)))  # batch size, writes landed before it
        return predict(images)

    def slow_persist(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.5)  # ample for the model to run one image meanwhile
        done = persist(*args, **kwargs)
        written.append(done)
        return done

    monkeypatch.setattr(model, "predict", noted_predict)
    monkeypatch.setattr(engine_module, "persist", slow_persist)
    assert BatchEngine(runtime).serve(tasks[0]) == 9
    assert runs == [(8, 0), (1, 1)]
