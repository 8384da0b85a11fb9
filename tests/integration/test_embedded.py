"""The embedded defaults: SQLite, the folder broker and local blobs, with no servers."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx

from cli.stack import Stack, free_port, inferq_command
from db.migrate import upgrade
from tests.integration.conftest import tile_bytes, wait_for_job


def test_embedded_defaults_run_end_to_end(tmp_path: Path, model_dir: Path) -> None:
    """Nothing set but folders: auth is on, so the key comes from `inferq keys create`."""
    data_dir = tmp_path / "data"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"INFERQ_DATABASE_URL", "INFERQ_BROKER_URL", "INFERQ_STORAGE_URL"}
    }
    env.update(INFERQ_DATA_DIR=str(data_dir), INFERQ_MODEL_URI=str(model_dir))
    upgrade(f"sqlite:///{data_dir / 'inferq.db'}")
    created = subprocess.run(
        inferq_command("keys", "create", "--tenant", "lab"),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = created.stdout.strip()
    stack = Stack(url=f"http://127.0.0.1:{free_port()}", env=env, log_dir=tmp_path)
    stack.start_gateway()
    stack.start_worker()
    try:
        stack.wait_ready()
        files = [("files", (f"{i}.png", tile_bytes(i))) for i in range(12)]
        assert httpx.post(f"{stack.url}/v1/jobs", files=files).status_code == 401
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=stack.url, timeout=60, headers=headers) as client:
            job_id = client.post("/v1/jobs", files=files).json()["job_id"]
            job = wait_for_job(client, job_id)
            predicted = client.post("/predict", files={"file": ("one.png", tile_bytes(99))})
        assert job["status"] == "succeeded" and job["counts"]["succeeded"] == 12
        # No Redis here: the waiter reads the database instead of a completion signal.
        assert predicted.status_code == 200, predicted.text
        assert predicted.json()["label"] in {"benign", "malignant"}
        assert (data_dir / "inferq.db").exists()
        assert any((data_dir / "blobs").rglob("*"))
    finally:
        stack.stop()
