"""The slide block runner in-process (real model, real database, a synthetic slide): with
the next block read while the model runs, every tile gets the probability the model gives
it read on its own, once; a runner that steps aside hands back the block it read ahead;
a block's lease starts again when its model run starts, and a block another worker took
over while it waited is not run."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update

from core.priority import Priority
from core.settings import Settings
from db.jobs import NewItem, create_job
from db.models import Item, utc_now
from db.session import get_session
from db.slide_tables import Slide, SlideBlock
from db.slides import NewSlide, add_slides, read_slide_tiles
from tests.slides import SPEC, nucleus_model_dir
from training.slides import write_slide
from worker.model_holder import LoadedModel, load_model
from worker.runtime import Runtime, build_runtime
from worker.slides.blocks import run_blocks
from worker.slides.grid import TileGeometry
from worker.slides.reader import open_slide
from worker.slides.regions import SlideCache, read_tiles
from worker.slides.tiling import tile_slide

BLOCK_TILES = 16


@pytest.fixture(scope="module")
def nucleus_model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    directory = nucleus_model_dir(tmp_path_factory.mktemp("nucleus-model"))
    return load_model(str(directory), max_batch_size=8)  # two model batches a block


@pytest.fixture(scope="module")
def slide_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_slide(tmp_path_factory.mktemp("scans") / "slide.tiff", SPEC)


@pytest.fixture
def runtime(tmp_path: Path, database_url: str, nucleus_model: LoadedModel) -> Runtime:
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        max_batch_size=8,
        worker_id="block-runner",
        slide_block_tiles=BLOCK_TILES,
        slide_thumbnail_px=1000,
        _env_file=None,  # type: ignore[call-arg]
    )
    return build_runtime(settings, nucleus_model)


def tiled_slide(runtime: Runtime, source: Path) -> uuid.UUID:
    """Add a slide job and tile it into blocks, as the tiling task does."""
    with get_session(runtime.settings.resolved_database_url) as session:
        job, _ = create_job([], session=session)
        (slide_id,) = add_slides(job, [NewSlide(str(source), source.name)], session=session)
    card = runtime.served.model.card
    assert tile_slide(slide_id, card, runtime.settings, runtime.store, runtime.worker_id) > 4
    return slide_id


def blocks_of(runtime: Runtime, slide_id: uuid.UUID) -> list[tuple[str, int, str | None]]:
    with get_session(runtime.settings.resolved_database_url) as session:
        rows = session.execute(
            select(SlideBlock.status, SlideBlock.attempts, SlideBlock.worker_id)
            .where(SlideBlock.slide_id == slide_id)
            .order_by(SlideBlock.index)
        )
        return [(str(status), attempts, worker) for status, attempts, worker in rows]


def test_read_ahead_gives_each_tile_its_own_probability_once(
    runtime: Runtime, slide_path: Path
) -> None:
    slide_id = tiled_slide(runtime, slide_path)
    n_blocks = len(blocks_of(runtime, slide_id))
    assert run_blocks(runtime, SlideCache(2), max_seconds=600) == (n_blocks, False)
    assert blocks_of(runtime, slide_id) == [("succeeded", 1, "block-runner")] * n_blocks
    model = runtime.served.model
    with get_session(runtime.settings.resolved_database_url) as session:
        corners, recorded = read_slide_tiles(slide_id, 2, session=session)
        slide = session.get(Slide, slide_id)
        assert slide is not None and slide.status == "succeeded" and slide.read_size
        geometry = TileGeometry(0, 0, slide.level or 0, slide.read_size)
    assert len(corners) == len(np.unique(corners, axis=0)) > n_blocks * (BLOCK_TILES - 1)
    tiles = read_tiles(open_slide(str(slide_path)), geometry, corners, (96, 96), "bilinear")
    alone, _ = model.predict(tiles)  # the whole slide read and run in one go, no overlap
    assert alone[:, 1].std() > 0.2  # tiles differ: one block's answers in another's would show
    np.testing.assert_allclose(recorded, alone, atol=2e-3)  # stored as float16


def test_a_runner_stepping_aside_hands_back_the_block_it_read_ahead(
    runtime: Runtime, slide_path: Path
) -> None:
    slide_id = tiled_slide(runtime, slide_path)
    with get_session(runtime.settings.resolved_database_url) as session:
        blob = runtime.store.put(b"an interactive tile")
        _, (item_id,) = create_job(
            [NewItem("urgent.png", blob, 19)], session=session, priority=Priority.INTERACTIVE.rank
        )
    assert run_blocks(runtime, SlideCache(2), max_seconds=600) == (1, True)
    blocks = blocks_of(runtime, slide_id)
    assert blocks[0] == ("succeeded", 1, "block-runner")
    assert blocks[1] == ("queued", 0, None)  # read ahead, handed back without an attempt
    assert all(state == ("queued", 0, None) for state in blocks[2:])
    with get_session(runtime.settings.resolved_database_url) as session:
        assert session.scalar(select(Item.status).where(Item.id == item_id)) == "queued"


def held_leases(runtime: Runtime, slide_id: uuid.UUID) -> list[tuple[int, float]]:
    """Return (index, seconds left on the lease) of the slide's blocks the runner holds."""
    with get_session(runtime.settings.resolved_database_url) as session:
        rows = session.execute(
            select(SlideBlock.index, SlideBlock.lease_expires_at)
            .where(
                SlideBlock.slide_id == slide_id,
                SlideBlock.status == "running",
                SlideBlock.worker_id == runtime.worker_id,
            )
            .order_by(SlideBlock.index)
        )
        now = utc_now()
        return [(index, (expires - now).total_seconds()) for index, expires in rows]


def set_block(runtime: Runtime, slide_id: uuid.UUID, index: int, **values: object) -> None:
    with get_session(runtime.settings.resolved_database_url) as session:
        session.execute(
            update(SlideBlock)
            .where(SlideBlock.slide_id == slide_id, SlideBlock.index == index)
            .values(**values)
        )


def test_a_block_starts_its_lease_again_as_it_runs_and_one_taken_over_is_not_run(
    runtime: Runtime, slide_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slide_id = tiled_slide(runtime, slide_path)
    n_blocks = len(blocks_of(runtime, slide_id))
    model = runtime.served.model
    predict = model.predict
    running: list[tuple[int, float]] = []  # the block each model run is for, its lease left

    def spy(tiles: np.ndarray) -> tuple[np.ndarray, float]:
        (current, left), *ahead = held_leases(runtime, slide_id)
        running.append((current, left))
        if len(running) == 1:  # block 1, read ahead, lapses and another worker takes it
            expires = utc_now() + timedelta(seconds=600)
            set_block(runtime, slide_id, 1, worker_id="other", attempts=2, lease_expires_at=expires)
        elif ahead:  # the block read ahead has 30 s left: its run must start it again
            expires = utc_now() + timedelta(seconds=30)
            set_block(runtime, slide_id, ahead[0][0], lease_expires_at=expires)
        return predict(tiles)

    monkeypatch.setattr(model, "predict", spy)
    assert run_blocks(runtime, SlideCache(2), max_seconds=600) == (n_blocks - 1, False)
    assert [index for index, _ in running] == [0, *range(2, n_blocks)]  # block 1 never ran
    lease = runtime.settings.lease_seconds
    assert all(lease - 10 < left <= lease for _, left in running), running
    blocks = blocks_of(runtime, slide_id)
    assert blocks[1] == ("running", 2, "other")
    assert blocks[:1] + blocks[2:] == [("succeeded", 1, "block-runner")] * (n_blocks - 1)
