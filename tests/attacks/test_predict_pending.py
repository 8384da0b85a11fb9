"""POST /predict past its timeout on the real gateway (no worker runs): a documented 202
with the job to poll, never a 500, and the job is the caller's."""

from __future__ import annotations

from tests.attacks.conftest import Target
from tests.integration.conftest import tile_bytes


def test_predict_past_its_timeout_answers_202_with_the_job(target: Target) -> None:
    with target.client("lab") as lab, target.client("other") as other:
        response = lab.post("/predict", files={"file": ("one.png", tile_bytes(3))})
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["status"] == "queued" and "poll" in body["detail"]
        assert body["links"]["self"] == f"/v1/jobs/{body['job_id']}"
        assert lab.get(body["links"]["self"]).json()["counts"]["queued"] == 1
        assert other.get(body["links"]["self"]).status_code == 404
    assert target.healthz_seconds() < 1.0
