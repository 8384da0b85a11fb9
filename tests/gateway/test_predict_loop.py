"""`POST /predict` and a plain one-image `POST /v1/jobs` on PostgreSQL: the image stays on
the event loop (gateway.loop_intake, db.loop_sql), what could stall the loop does not, the
answer is the sessions' answer, and an outage on that path is a 503 like any other."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path

import pytest
from fastapi import UploadFile
from starlette.datastructures import Headers

from core.priority import Priority
from core.storage import BlobStore
from db.loop_sql import LoopDatabase
from db.models import Item, Job
from db.session import get_session
from db.tenant_priorities import TenantPriorities, set_tenant_priorities
from db.tenant_rules import TenantRules
from db.tenant_webhooks import rotate_secret, set_default_url
from gateway.loop_intake import LOOP_INTAKE_MAX_BYTES, quick_to_read
from gateway.routes.jobs import plain_priority
from tests.gateway.conftest import (
    api_client,
    count_rows,
    limited_settings,
    png_bytes,
    stored_blobs,
)

DEAD_SERVER = "postgresql+psycopg://postgres@127.0.0.1:9/nothing"


def part(data: bytes, name: str = "p.png") -> UploadFile:
    return UploadFile(io.BytesIO(data), size=len(data), filename=name, headers=Headers())


def zipped(*members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, data in enumerate(members):
            archive.writestr(f"m{index}.png", data)
    return buffer.getvalue()


def test_only_a_small_image_bound_for_a_local_disk_is_read_on_the_loop(tmp_path: Path) -> None:
    local = BlobStore(str(tmp_path / "blobs"))
    assert local.local and BlobStore(f"file://{tmp_path}").local
    assert quick_to_read(part(png_bytes(1)), local)
    assert not quick_to_read(
        part(zipped(png_bytes(1)), "a.zip"), local
    )  # unpacking may take seconds
    big = png_bytes(2, size=(700, 700))
    assert len(big) > LOOP_INTAKE_MAX_BYTES and not quick_to_read(part(big), local)
    remote = BlobStore("gs://bucket/blobs")
    assert not remote.local and not quick_to_read(part(png_bytes(1)), remote)


@pytest.mark.parametrize(
    ("path", "field"), [("/predict", "file"), ("/v1/jobs", "files")], ids=["predict", "jobs"]
)
def test_an_outage_on_the_loop_path_is_a_503_and_leaves_no_job(
    tmp_path: Path, postgres_url: str, path: str, field: str
) -> None:
    settings = limited_settings(tmp_path, postgres_url, predict_timeout_seconds=0.2)
    with api_client(settings) as client:
        # Admission and every other route still reach the database through the sessions:
        # only the loop's connections see the outage, so the route's own answer is heard.
        client.app.state.loop_database = LoopDatabase(DEAD_SERVER)  # type: ignore[attr-defined]
        refused = client.post(path, files=[(field, ("p.png", png_bytes(3)))])
        assert client.get("/readyz").status_code == 200
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "5"
    assert refused.json()["detail"] == "the database is unreachable; retry later"
    assert count_rows(settings, Job) == 0 and count_rows(settings, Item) == 0


def test_an_outage_under_a_status_read_is_a_503(tmp_path: Path, postgres_url: str) -> None:
    settings = limited_settings(tmp_path, postgres_url)
    with api_client(settings) as client:
        job_id = client.post("/v1/jobs", files=[("files", ("p.png", png_bytes(3)))]).json()
        client.app.state.loop_database = LoopDatabase(DEAD_SERVER)  # type: ignore[attr-defined]
        status = client.get(f"/v1/jobs/{job_id['job_id']}")
        listings = [
            client.get("/v1/jobs", params={"ids": job_id["job_id"], "wait_seconds": wait})
            for wait in (0, 5)
        ]
        for refused in (status, *listings):
            assert refused.status_code == 503, refused.text
            assert refused.json()["detail"] == "the database is unreachable; retry later"
        # A listing with a filter reads on a session: the outage of the loop's is not its.
        filtered = client.get("/v1/jobs", params={"ids": job_id["job_id"], "status": "queued"})
        assert filtered.status_code == 200 and len(filtered.json()["jobs"]) == 1


def test_a_one_image_job_answers_as_the_sessions_path_does(
    tmp_path: Path, postgres_url: str, sqlite_url: str
) -> None:
    answers = []
    for name, url in (("loop", postgres_url), ("sessions", sqlite_url)):
        with api_client(limited_settings(tmp_path / name, url)) as client:
            accepted = client.post("/v1/jobs", files=[("files", ("p.png", png_bytes(6)))])
            assert accepted.status_code == 202, accepted.text
            body = accepted.json()
            job = client.get(body["links"]["self"]).json()
        assert body["links"]["self"] == f"/v1/jobs/{body.pop('job_id')}"
        answers.append((body.pop("links").keys(), body, job["status"], job["counts"]["total"]))
    assert answers[0] == answers[1]
    assert answers[0][1]["priority"] == "interactive" and answers[0][1]["n_items"] == 1


def test_a_tenant_default_callback_sends_the_job_to_the_sessions_path(
    tmp_path: Path, postgres_url: str
) -> None:
    settings = limited_settings(tmp_path, postgres_url)
    with get_session(postgres_url) as session:
        rotate_secret("lab", session=session)
        set_default_url("lab", "https://1.1.1.1/in", session=session)
    with api_client(settings) as client:
        accepted = client.post("/v1/jobs", files=[("files", ("p.png", png_bytes(7)))])
    assert accepted.status_code == 202, accepted.text
    with get_session(postgres_url) as session:
        job = session.get(Job, uuid.UUID(accepted.json()["job_id"]))
        assert job is not None and job.callback_url == "https://1.1.1.1/in"
    assert stored_blobs(settings) == 1  # read once, though the loop read the rules first


@pytest.mark.parametrize(("cache_seconds", "then"), [(600.0, "interactive"), (0.0, "bulk")])
def test_a_tenants_new_cap_reaches_the_loop_within_the_rules_cache_time(
    tmp_path: Path, postgres_url: str, cache_seconds: float, then: str
) -> None:
    settings = limited_settings(tmp_path, postgres_url)
    settings = settings.model_copy(update={"rules_cache_seconds": cache_seconds})
    with api_client(settings) as client:

        def priority(seed: int) -> str:
            accepted = client.post("/v1/jobs", files=[("files", ("p.png", png_bytes(seed)))])
            assert accepted.status_code == 202, accepted.text
            return str(accepted.json()["priority"])

        assert priority(11) == "interactive"
        with get_session(postgres_url) as session:
            set_tenant_priorities("lab", TenantPriorities(cap=Priority.BULK), session=session)
        assert priority(12) == then  # the rules read for the first job, or read again
    with get_session(postgres_url) as session:
        stored = session.query(Job.priority).order_by(Job.created_at).all()
    assert [Priority.from_rank(rank).value for (rank,) in stored] == ["interactive", then]


@pytest.mark.parametrize(
    "extra",
    [
        {"headers": {"Idempotency-Key": "k-1"}},
        {"data": {"priority": "bulk"}},
        {"data": {"close": "false"}},
    ],
    ids=["key", "priority", "open"],
)
def test_what_the_loop_does_not_take_reaches_the_sessions_path(
    tmp_path: Path, postgres_url: str, extra: dict[str, dict[str, str]]
) -> None:
    settings = limited_settings(tmp_path, postgres_url)
    with api_client(settings) as client:
        client.app.state.loop_database = LoopDatabase(DEAD_SERVER)  # type: ignore[attr-defined]
        accepted = client.post("/v1/jobs", files=[("files", ("p.png", png_bytes(8)))], **extra)
    assert accepted.status_code == 202, accepted.text
    assert count_rows(settings, Item) == 1


def test_a_plain_job_gets_the_tenants_default_priority() -> None:
    rules = TenantRules(TenantPriorities(default=Priority.BULK, cap=Priority.NORMAL))
    choice = plain_priority(rules)
    assert choice is not None and choice.resolve(1, closed=True, small=5) == Priority.BULK
