"""Completion webhooks on the real stack: a loopback receiver (allowed by INFERQ_WEBHOOK_ALLOW)
gets exactly one verified event per finished job, through failures and a slow answer."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from cli.stack import Stack
from client.api import InferqClient
from client.files import UploadPart
from db.migrate import upgrade
from db.models import DEFAULT_TENANT
from db.session import get_session
from db.tenant_webhooks import rotate_secret
from tests.integration.conftest import (
    gateway_and_worker,
    stack_environment,
    tile_bytes,
    wait_for_job,
)
from tests.webhook_receiver import Receiver, receiving

WEBHOOK_SETTINGS = {
    "INFERQ_WEBHOOK_ALLOW": "127.0.0.1",
    "INFERQ_WEBHOOK_TIMEOUT_SECONDS": "1",
    "INFERQ_WEBHOOK_BACKOFF_SECONDS": "0.3",
    "INFERQ_WEBHOOK_POLL_SECONDS": "0.2",
}


@pytest.fixture
def hooked(
    tmp_path: Path, postgres_url: str, redis_url: str, model_dir: Path
) -> Iterator[tuple[Stack, Receiver]]:
    """A stack whose default tenant has a secret, and a receiver that fails and dawdles."""
    upgrade(postgres_url)
    with get_session(postgres_url) as session:
        secret = rotate_secret(DEFAULT_TENANT, session=session)
    env = {**stack_environment(tmp_path, postgres_url, redis_url, model_dir), **WEBHOOK_SETTINGS}
    scripts = {"/flaky": ["fail", "fail", "ok"], "/slow": ["slow", "ok"]}
    with receiving(secret, scripts) as receiver, gateway_and_worker(env, tmp_path) as stack:
        yield stack, receiver


def wait_until(check: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll a condition until it holds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def submit(client: httpx.Client, seed: int, callback: str | None) -> str:
    """Submit two images with a callback; return the job ID."""
    files = [("files", (f"t{seed}-{i}.png", tile_bytes(seed + i))) for i in range(2)]
    data = {"callback_url": callback} if callback else {}
    response = client.post("/v1/jobs", files=files, data=data)
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def refuse_private_callbacks(client: httpx.Client) -> None:
    """Private addresses off the allow-list and metadata ones are 422s; no job is made."""
    for url, reason in (
        ("http://10.0.0.1/hook", "non-public"),
        ("https://169.254.169.254/latest", "metadata"),
        ("http://[::1]:8080/x", "non-public"),
        ("https://192.168.0.10/x", "non-public"),
    ):
        files = [("files", ("a.png", tile_bytes(1)))]
        response = client.post("/v1/jobs", files=files, data={"callback_url": url})
        assert response.status_code == 422, response.text
        assert reason in response.json()["detail"]
    assert client.get("/v1/jobs").json()["jobs"] == []


def submit_with_the_client(stack: Stack, folder: Path, callback: str) -> str:
    """Submit two images through the Python client with a callback; return the job ID."""
    parts = []
    for seed in (20, 21):
        path = folder / f"c{seed}.png"
        path.write_bytes(tile_bytes(seed))
        parts.append(UploadPart(path.name, path, path.stat().st_size))
    with InferqClient(stack.url) as api:
        return str(api.create_job(parts, callback_url=callback).job_id)


def test_one_verified_event_per_job_despite_failures_and_a_slow_receiver(
    hooked: tuple[Stack, Receiver], tmp_path: Path
) -> None:
    stack, receiver = hooked
    with httpx.Client(base_url=stack.url, timeout=60) as client:
        refuse_private_callbacks(client)
        flaky = submit(client, 10, f"{receiver.url}/flaky")
        slow = submit_with_the_client(stack, tmp_path, f"{receiver.url}/slow")
        silent = submit(client, 30, None)
        for job_id in (flaky, slow, silent):
            wait_for_job(client, job_id)
        wait_until(lambda: bool(receiver.delivered("/flaky")) and bool(receiver.delivered("/slow")))
        time.sleep(1.5)  # long enough for a duplicate to arrive, were one coming
        for path, job_id, tries in (("/flaky", flaky, 3), ("/slow", slow, 2)):
            got = [r for r in receiver.received if r.path == path]
            assert len(got) == tries and all(r.verified for r in got)
            assert len({r.event_id for r in got}) == 1  # one event, retried
            (delivered,) = receiver.delivered(path)
            body = json.loads(delivered.body)
            assert body["id"] == delivered.event_id and body["type"] == "job.finished"
            assert body["job"]["id"] == job_id and body["job"]["status"] == "succeeded"
            assert body["job"]["counts"]["succeeded"] == 2
            (event,) = client.get(f"/v1/jobs/{job_id}/events").json()["events"]
            assert event["id"] == delivered.event_id and event["status"] == "delivered"
            assert len(event["attempts"]) == tries
        flaky_event = client.get(f"/v1/jobs/{flaky}/events").json()["events"][0]
        assert [a["status_code"] for a in flaky_event["attempts"]] == [500, 500, 200]
        slow_event = client.get(f"/v1/jobs/{slow}/events").json()["events"][0]
        assert "no answer within 1 s" in slow_event["attempts"][0]["error"]
        assert client.get(f"/v1/jobs/{silent}/events").json() == {"events": []}

        replay = client.post(f"/v1/jobs/{flaky}/events/{flaky_event['id']}/redeliver")
        assert replay.status_code == 202 and replay.json()["status"] == "pending"
        wait_until(lambda: len(receiver.delivered("/flaky")) == 2)
        again = receiver.delivered("/flaky")[1]
        assert (
            again.event_id == flaky_event["id"]
            and again.body == receiver.delivered("/flaky")[0].body
        )
        missing = client.post(f"/v1/jobs/{flaky}/events/{silent}/redeliver")
        assert missing.status_code == 404
