"""The bench's single-image clients against the real stack: every job they submit ends with
one result, and they wait with long polls, so the gateway answers no more listings than
there are jobs (a 50 ms poll would ask several times for each slow job)."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from cli.load import Target, run_clients
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
