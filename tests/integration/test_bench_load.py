"""The bench's clients against the real stack: every job they submit ends with one result,
and they wait with long polls, so the gateway answers no more listings than there are jobs
(a 50 ms poll would ask several times for each slow job); the bulk clients' prebuilt forms
carry every file whole."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from cli.load import Target, run_bulk, run_clients
from cli.stack import Stack
from core.storage import content_hash
from tests.integration.conftest import migrated_stack, tile_bytes


def listings_answered(url: str) -> int:
    """Read how many job listings the gateway answered with 200 from its /metrics."""
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "inferq_http_requests_total" and labels == {
                "method": "GET",
                "route": "/v1/jobs",
                "status": "200",
            }:
                return int(sample.value)
    return 0


def test_single_image_clients_long_poll_each_job_to_its_one_result(
    tmp_path: Path, postgres_url: str, redis_url: str, slow_model_dir: Path
) -> None:
    images = [tile_bytes(seed) for seed in range(6)]
    # A model whose batches take far longer than a 50 ms poll.
    with migrated_stack(
        tmp_path, postgres_url, redis_url, slow_model_dir, workers_ready=True
    ) as stack:
        load = run_clients("single", Target(stack.url, "unused"), images, 3, 4.0, processes=1)
        listings = listings_answered(stack.url)

    assert set(load.statuses) == {"202"} and load.done > 0
    with create_engine(postgres_url).connect() as connection:
        jobs = connection.scalar(text("SELECT count(*) FROM jobs"))
        results = connection.execute(
            text("SELECT count(*), count(DISTINCT item_id) FROM results")
        ).one()
        unfinished = connection.scalar(
            text("SELECT count(*) FROM items WHERE status <> 'succeeded'")
        )
    assert jobs == load.statuses["202"] == load.done  # every job seen succeeded by its client
    assert tuple(results) == (jobs, jobs) and unfinished == 0
    assert 0 < listings <= jobs


def test_bulk_clients_send_every_file_and_wait_for_each_job(
    real_stack: Stack, postgres_url: str
) -> None:
    images = [tile_bytes(seed) for seed in range(7)]
    load = run_bulk(Target(real_stack.url, "unused"), images, per_request=3, clients=2)
    listings = listings_answered(real_stack.url)

    assert load.done == 7 and load.statuses == {"202": 3} and load.percentiles_ms["p50"] > 0
    with create_engine(postgres_url).connect() as connection:
        sizes = connection.scalars(
            text("SELECT count(*) FROM items GROUP BY job_id ORDER BY count(*) DESC")
        ).all()
        items = connection.execute(
            text(
                "SELECT i.filename, i.content_hash, i.status, count(r.item_id) FROM items i"
                " LEFT JOIN results r ON r.item_id = i.id"
                " GROUP BY i.id"
            )
        ).all()
    assert sizes == [3, 3, 1]
    assert sorted(item.content_hash for item in items) == sorted(
        content_hash(data) for data in images
    )
    assert sorted(item.filename for item in items) == sorted(
        ["0.png", "1.png", "2.png", "0.png", "1.png", "2.png", "0.png"]
    )
    assert {(item.status, item.count) for item in items} == {("succeeded", 1)}
    assert 3 <= listings <= 6  # a long poll per job, again only if one came back early
