"""The batched inference step in-process: real model, real database, real blobs."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from core.model_card import ModelCard
from core.preprocessing import decode_image
from core.settings import Settings
from db.jobs import NewItem, create_job
from db.models import Item, Result
from db.session import get_session
from worker.engine import BatchEngine
from worker.model_holder import load_model
from worker.runtime import Runtime, build_runtime


def tile(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (120, 100, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def loaded(model_dir: Path):  # type: ignore[no-untyped-def]
    return load_model(str(model_dir), max_batch_size=8)


@pytest.fixture
def runtime(tmp_path: Path, database_url: str, loaded) -> Runtime:  # type: ignore[no-untyped-def]
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        max_batch_size=8,
        worker_id="test-worker",
        _env_file=None,  # type: ignore[call-arg]
    )
    return build_runtime(settings, loaded)


def submit(runtime: Runtime, blobs: list[bytes]) -> list[uuid.UUID]:
    items = [NewItem(f"{i}.png", runtime.store.put(b), len(b)) for i, b in enumerate(blobs)]
    with get_session(runtime.settings.resolved_database_url) as session:
        _, ids = create_job(items, session=session)
    return ids


def test_any_batch_size_runs_in_chunks_of_the_maximum(loaded, model_dir: Path) -> None:  # type: ignore[no-untyped-def]
    card = ModelCard.read(model_dir)
    batch = np.stack([decode_image(tile(i), card.input_size) for i in range(19)])
    whole, _ = loaded.predict(batch)  # 8 + 8 + 3 through one graph
    one_by_one = np.concatenate([loaded.predict(batch[i : i + 1])[0] for i in range(19)])
    np.testing.assert_allclose(whole, one_by_one, rtol=1e-4, atol=1e-5)
    assert whole.shape == (19, 2)


def test_batched_graph_matches_the_keras_model(loaded, model_dir: Path) -> None:  # type: ignore[no-untyped-def]
    import keras

    card = ModelCard.read(model_dir)
    batch = np.stack([decode_image(tile(i), card.input_size) for i in range(11)])
    probabilities, elapsed = loaded.predict(batch)
    reference = keras.models.load_model(model_dir / "model.keras")(batch.astype("float32"))
    np.testing.assert_allclose(probabilities, np.asarray(reference), rtol=1e-4, atol=1e-5)
    assert probabilities.shape == (11, 2) and elapsed > 0


def test_a_batch_is_classified_and_a_corrupt_image_fails_alone(runtime: Runtime) -> None:
    truncated = tile(99)[:300]
    ids = submit(runtime, [tile(1), tile(2), truncated, tile(3)])
    assert BatchEngine(runtime).serve(ids) == 3
    with get_session(runtime.settings.resolved_database_url) as session:
        items = {i.id: i for i in session.scalars(select(Item))}
        results = {r.item_id: r for r in session.scalars(select(Result))}
    assert [items[i].status for i in ids] == ["succeeded", "succeeded", "failed", "succeeded"]
    assert "invalid image: corrupt image data" in (items[ids[2]].error or "")
    for item_id in (ids[0], ids[1], ids[3]):
        result = results[item_id]
        assert result.label in {"benign", "malignant"}
        assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-4)
        assert result.probability == max(result.scores.values())
        assert result.model_version == runtime.served.model.card.version
        assert result.inference_ms > 0 and result.total_ms >= result.queue_ms >= 0
        assert result.worker_id == "test-worker"


def test_a_redelivered_task_changes_nothing(runtime: Runtime) -> None:
    ids = submit(runtime, [tile(5), tile(6)])
    assert BatchEngine(runtime).serve(ids) == 2
    assert BatchEngine(runtime).serve(ids) == 0
    with get_session(runtime.settings.resolved_database_url) as session:
        assert len(session.scalars(select(Result)).all()) == 2


def test_a_missing_blob_fails_its_item(runtime: Runtime) -> None:
    ids = submit(runtime, [tile(7)])
    with get_session(runtime.settings.resolved_database_url) as session:
        _, more = create_job([NewItem("gone.png", "f" * 64, 1)], session=session)
    BatchEngine(runtime).serve(ids + more)
    with get_session(runtime.settings.resolved_database_url) as session:
        gone = session.get(Item, more[0])
    assert gone is not None and gone.status == "failed"
    assert gone.error == "image blob missing from storage"


def test_a_missing_model_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="inferq train --quick"):
        load_model(str(tmp_path), max_batch_size=4)


def submit_singles(runtime: Runtime, blobs: list[bytes], tenant: str = "default") -> list:  # type: ignore[type-arg]
    """Queue each blob as its own one-image job, as one-image clients do."""
    ids = []
    for i, blob in enumerate(blobs):
        item = NewItem(f"{i}.png", runtime.store.put(blob), len(blob))
        with get_session(runtime.settings.resolved_database_url) as session:
            ids.append(create_job([item], session=session, tenant=tenant)[1])
    return ids


def test_one_image_jobs_share_a_batch_and_later_wake_ups_do_nothing(runtime: Runtime) -> None:
    tasks = submit_singles(runtime, [tile(20 + i) for i in range(6)])
    engine = BatchEngine(runtime)
    assert engine.serve(tasks[0]) == 6  # the first wake-up fills its batch across jobs
    assert (runtime.metrics.batches, runtime.metrics.items) == (1, 6)
    assert all(engine.serve(ids) == 0 for ids in tasks[1:])  # their items are done
    with get_session(runtime.settings.resolved_database_url) as session:
        results = session.scalars(select(Result)).all()
        statuses = {item.status for item in session.scalars(select(Item))}
    assert len(results) == 6 and len({r.job_id for r in results}) == 6
    assert statuses == {"succeeded"}


def test_a_wake_up_drains_the_queue_in_full_batches(runtime: Runtime) -> None:
    tasks = submit_singles(runtime, [tile(40 + i) for i in range(20)])
    assert BatchEngine(runtime).serve(tasks[0]) == 20
    assert (runtime.metrics.batches, runtime.metrics.items) == (3, 20)  # 8 + 8 + 4


def test_a_lost_item_runs_alone(runtime: Runtime) -> None:
    suspect, *_ = submit_singles(runtime, [tile(60 + i) for i in range(4)])
    with get_session(runtime.settings.resolved_database_url) as session:
        item = session.get(Item, suspect[0])
        assert item is not None
        item.attempts = 1  # claimed once by a worker that never came back
    assert BatchEngine(runtime).serve(suspect) == 1
    assert (runtime.metrics.batches, runtime.metrics.items) == (1, 1)


def test_a_stopping_worker_hands_back_what_it_prefetched(runtime: Runtime) -> None:
    tasks = submit_singles(runtime, [tile(80 + i) for i in range(20)])
    runtime.stopping.set()
    assert BatchEngine(runtime).serve(tasks[0]) == 8
    with get_session(runtime.settings.resolved_database_url) as session:
        items = session.scalars(select(Item)).all()
    assert sorted(i.status for i in items).count("queued") == 12
    assert all(i.attempts == 0 for i in items if i.status == "queued")
