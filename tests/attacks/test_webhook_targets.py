"""Callback URLs aimed inside the network (SSRF): a 422 with the reason before anything is
stored, and a tenant sees and replays only its own jobs' events."""

from __future__ import annotations

import uuid

import pytest

from db.session import get_session
from db.tenant_webhooks import rotate_secret
from tests.attacks.conftest import HEALTHZ_LIMIT_SECONDS, Target
from tests.attacks.stored import count_rows
from tests.integration.conftest import tile_bytes

TARGETS = [
    ("https://127.0.0.1/hook", "non-public"),
    ("https://localhost/hook", "non-public"),
    ("https://2130706433/hook", "non-public"),  # 127.0.0.1 written as one number
    ("https://0x7f.1/hook", "non-public"),
    ("https://[::ffff:127.0.0.1]/hook", "non-public"),
    ("https://[::1]/hook", "non-public"),
    ("https://10.0.0.5/hook", "non-public"),
    ("https://172.31.255.1/hook", "non-public"),
    ("https://192.168.1.20/hook", "non-public"),
    ("https://100.100.100.200/hook", "non-public"),  # a cloud's metadata, in shared space
    ("https://169.254.169.254/latest/meta-data/", "metadata"),
    ("https://[fd00:ec2::254]/latest", "metadata"),
    ("https://[fe80::1]/hook", "non-public"),
    ("https://224.0.0.251/hook", "non-public"),
    ("https://0.0.0.0/hook", "non-public"),
    ("http://93.184.215.14/hook", "https"),  # public, but not https
    ("gopher://93.184.215.14/_hook", "https"),
    ("file:///etc/passwd", "https"),
    ("https://user:secret@93.184.215.14/hook", "credentials"),
    ("https://nowhere.invalid/hook", "does not resolve"),
    ("https://93.184.215.14/" + "a" * 3000, "longer"),
    ("https://93.184.215.14/a\r\nX-Injected: 1", "control"),
]


@pytest.fixture(scope="module", autouse=True)
def lab_secret(target: Target) -> None:
    """Give tenant lab a webhook secret, so that only the target decides."""
    with get_session(target.database_url) as session:
        rotate_secret("lab", session=session)


@pytest.mark.parametrize(("url", "reason"), TARGETS, ids=[url[:40] for url, _ in TARGETS])
def test_a_callback_to_an_inside_address_is_a_422_and_stores_nothing(
    target: Target, url: str, reason: str
) -> None:
    blobs, rows = target.blob_count(), count_rows(target.database_url)
    with target.client() as client:
        files = [("files", ("a.png", tile_bytes(700), "image/png"))]
        response = client.post("/v1/jobs", files=files, data={"callback_url": url})
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]
    assert target.blob_count() == blobs and count_rows(target.database_url) == rows
    assert target.healthz_seconds() < HEALTHZ_LIMIT_SECONDS


def test_a_tenant_without_a_secret_cannot_ask_for_callbacks(target: Target) -> None:
    rows = count_rows(target.database_url)
    with target.client("other") as client:
        files = [("files", ("a.png", tile_bytes(701), "image/png"))]
        data = {"callback_url": "https://93.184.215.14/hook"}
        response = client.post("/v1/jobs", files=files, data=data)
    assert response.status_code == 422 and "webhook secret" in response.json()["detail"]
    assert count_rows(target.database_url) == rows


def test_another_tenants_events_are_a_404(target: Target) -> None:
    with target.client() as client:
        files = [("files", ("a.png", tile_bytes(702), "image/png"))]
        job_id = client.post("/v1/jobs", files=files).json()["job_id"]
        assert client.get(f"/v1/jobs/{job_id}/events").json() == {"events": []}
    event = uuid.uuid4()
    with target.client("other") as client:
        assert client.get(f"/v1/jobs/{job_id}/events").status_code == 404
        replay = client.post(f"/v1/jobs/{job_id}/events/{event}/redeliver")
        assert replay.status_code == 404 and "not found" in replay.json()["detail"]
    with target.client() as client:
        replay = client.post(f"/v1/jobs/{job_id}/events/{event}/redeliver")
        assert replay.status_code == 404 and "no event" in replay.json()["detail"]
