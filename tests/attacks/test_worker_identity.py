"""A worker's identity (host:pid) is for operators: it is kept in the database and shown
to no tenant, in no JSON answer, CSV export or schema."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select

from db.claims import Outcome, claim_items, record_results
from db.models import Item, Result
from db.session import get_session
from tests.attacks.conftest import Target
from tests.attacks.stored import count_rows
from tests.integration.conftest import tile_bytes

WORKER = "scanner-host-7:4242"


def classify_as_a_worker(database_url: str, job_id: str) -> None:
    """Claim the job's items and write their results as a worker named WORKER would."""
    with get_session(database_url) as session:
        ids = list(session.scalars(select(Item.id).where(Item.job_id == uuid.UUID(job_id))))
        claimed = claim_items(
            ids, session=session, worker_id=WORKER, lease_seconds=60, max_attempts=3
        )
        outcomes = [
            Outcome(item, "benign", 0.8, {"benign": 0.8, "malignant": 0.2}, 2.0) for item in claimed
        ]
        record_results(
            outcomes, session=session, worker_id=WORKER, model_name="m", model_version="1"
        )


def test_no_tenant_answer_names_the_worker(target: Target) -> None:
    with target.client() as client:
        files = [("files", (f"w{i}.png", tile_bytes(500 + i), "image/png")) for i in range(2)]
        created = client.post("/v1/jobs", files=files)
        assert created.status_code == 202, created.text
        job_id, links = created.json()["job_id"], created.json()["links"]
        classify_as_a_worker(target.database_url, job_id)
        stored = count_rows(target.database_url)
        answers = [
            client.get(links["self"]),
            client.get(links["results"]),
            client.get(links["csv"]),
            client.get(links["summary"]),
            client.get(links["summary"], params={"format": "csv"}),
            client.get("/v1/jobs", params={"ids": job_id}),
            client.get("/v1/metrics"),
        ]
    items = answers[1].json()["items"]
    assert [item["status"] for item in items] == ["succeeded", "succeeded"]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert WORKER not in answer.text and "worker_id" not in answer.text, answer.url
    schema = httpx.get(f"{target.url}/openapi.json", timeout=30).text
    assert "worker_id" not in schema
    with get_session(target.database_url) as session:  # operators still have it
        workers = set(session.scalars(select(Result.worker_id).where(Result.job_id == job_id)))
    assert workers == {WORKER}
    assert count_rows(target.database_url) == stored
