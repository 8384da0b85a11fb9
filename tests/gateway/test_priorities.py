"""How a submission's priority is chosen, capped, stored and routed to its broker queue."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from core.priority import Priority
from core.settings import Settings
from db.models import Item
from db.session import get_session
from db.tenant_priorities import TenantPriorities as StoredPriorities
from db.tenant_priorities import set_tenant_priorities
from tests.gateway.conftest import api_client, limited_settings, png_bytes, stored_blobs


def submit(client: TestClient, n: int, **fields: str) -> dict:  # type: ignore[type-arg]
    files = [("files", (f"{i}.png", png_bytes(i))) for i in range(n)]
    response = client.post("/v1/jobs", files=files, data=fields)
    assert response.status_code == 202, response.text
    sent(client)
    return response.json()  # type: ignore[no-any-return]


def sent(client: TestClient) -> None:
    """Wait until the gateway's publisher has sent the wake-ups handed to it so far (it
    sends after the 202, on its own thread)."""
    assert client.app.state.publisher.flush()  # type: ignore[attr-defined]


def queues(settings: Settings) -> list[str]:
    """Return the queue of every message the folder broker holds (named in its file)."""
    messages = (settings.broker_folder / "messages").glob("*.msg")
    return sorted(path.name.split(".", 1)[1].removesuffix(".msg") for path in messages)


def item_ranks(settings: Settings, job_id: str) -> set[int]:
    with get_session(settings.resolved_database_url) as session:
        rows = session.scalars(select(Item.priority).where(Item.job_id == uuid.UUID(job_id)))
        return set(rows)


def test_small_jobs_are_interactive_larger_ones_normal(
    client: TestClient, settings: Settings
) -> None:
    small = submit(client, settings.interactive_max_items)
    large = submit(client, settings.interactive_max_items + 1)
    assert (small["priority"], large["priority"]) == ("interactive", "normal")
    assert client.get(f"/v1/jobs/{small['job_id']}").json()["priority"] == "interactive"
    assert item_ranks(settings, small["job_id"]) == {0}
    assert queues(settings) == ["inference", "inference.interactive"]


def test_an_open_job_is_normal_and_its_later_items_keep_its_queue(
    client: TestClient, settings: Settings
) -> None:
    job = submit(client, 1, close="false")
    assert job["priority"] == "normal"
    added = client.post(
        f"/v1/jobs/{job['job_id']}/items", files=[("files", ("x.png", png_bytes(99)))]
    )
    assert added.json()["priority"] == "normal"
    sent(client)
    assert queues(settings) == ["inference", "inference"]


def test_an_asked_priority_is_stored_and_routed(client: TestClient, settings: Settings) -> None:
    job = submit(client, 2, priority="BULK")
    assert job["priority"] == "bulk"
    assert item_ranks(settings, job["job_id"]) == {2}
    assert queues(settings) == ["inference.bulk"]


def test_the_tenants_default_applies_when_none_is_asked(tmp_path: Path, database_url: str) -> None:
    # On PostgreSQL a plain one-image job is committed on the event loop (db.loop_sql).
    with get_session(database_url) as session:
        set_tenant_priorities("lab", StoredPriorities(default=Priority.BULK), session=session)
    with api_client(limited_settings(tmp_path, database_url)) as client:
        assert submit(client, 1)["priority"] == "bulk"
        assert submit(client, 1, priority="interactive")["priority"] == "interactive"


def test_a_capped_tenant_gets_its_cap_on_jobs_and_predict(
    tmp_path: Path, database_url: str
) -> None:
    # On PostgreSQL /predict reads the rules and commits on the event loop (db.loop_sql).
    settings = limited_settings(tmp_path, database_url, predict_timeout_seconds=0.2)
    with get_session(database_url) as session:
        set_tenant_priorities("lab", StoredPriorities(cap=Priority.NORMAL), session=session)
    with api_client(settings) as client:
        assert submit(client, 1, priority="interactive")["priority"] == "normal"
        assert submit(client, 1)["priority"] == "normal"  # small, but capped
        assert submit(client, 1, priority="bulk")["priority"] == "bulk"  # below the cap
        pending = client.post("/predict", files={"file": ("p.png", png_bytes(5))})
        assert pending.status_code == 202, pending.text
        job = client.get(f"/v1/jobs/{pending.json()['job_id']}").json()
        assert job["priority"] == "normal"
    assert "inference.interactive" not in queues(settings)


def test_predict_is_interactive(tmp_path: Path, database_url: str) -> None:
    settings = limited_settings(tmp_path, database_url, predict_timeout_seconds=0.2)
    with api_client(settings) as client:
        pending = client.post("/predict", files={"file": ("p.png", png_bytes(5))})
        assert client.get(pending.json()["links"]["self"]).json()["priority"] == "interactive"
    assert queues(settings) == ["inference.interactive"]


def test_a_bad_priority_is_422_with_the_accepted_values_and_stores_nothing(
    client: TestClient, settings: Settings
) -> None:
    files = [("files", ("a.png", png_bytes(1)))]
    response = client.post("/v1/jobs", files=files, data={"priority": "urgent"})
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "priority 'urgent' is not one of interactive, normal, bulk"
    )
    assert stored_blobs(settings) == 0 and queues(settings) == []
