"""The gateway's start: only what the first /readyz needs is imported (a fast cold start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from core.settings import Settings
from gateway.publisher import Publisher

# Loaded by the first request that needs them: an image, a slide output, a publish, a blob.
LOADED_LATER = ("numpy", "PIL", "celery", "fsspec", "gcsfs")

START_AND_PROBE = f"""
import json, sys
from fastapi.testclient import TestClient
from gateway.app import create_app
with TestClient(create_app()) as client:
    status = client.get("/readyz").status_code
print(json.dumps([status, sorted(set({LOADED_LATER!r}) & set(sys.modules))]))
"""


def test_start_and_first_readyz_import_nothing_that_only_some_requests_need(
    tmp_path: Path, sqlite_url: str
) -> None:
    # gs:// as on Cloud Run: the GCS client (gcsfs) is installed here, and must not load yet.
    env = {
        **os.environ,
        "INFERQ_DATA_DIR": str(tmp_path),
        "INFERQ_DATABASE_URL": sqlite_url,
        "INFERQ_STORAGE_URL": "gs://inferq-start/blobs",
    }
    for name in ("INFERQ_BROKER_URL", "INFERQ_API_URL"):
        env.pop(name, None)  # the folder broker under the data folder
    result = subprocess.run(
        [sys.executable, "-c", START_AND_PROBE], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    status, loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert status == 200
    assert loaded == []


def test_threads_asking_at_once_share_one_celery_app(settings: Settings) -> None:
    publisher = Publisher(settings)
    with ThreadPoolExecutor(8) as pool:
        apps = list(pool.map(lambda _: publisher.celery, range(8)))
    assert len({id(app) for app in apps}) == 1
    assert apps[0].conf.task_acks_late  # the app core.queue configures


START_THEN_FIRST_REQUEST = f"""
import gc, json, sys
from fastapi.testclient import TestClient
from cli.services import create_gateway
from core.settings import get_settings
from db.api_keys import create_key
from db.session import get_session
with get_session(get_settings().resolved_database_url) as session:
    key = create_key("lab", session=session).plaintext
app = create_gateway()
later = set({LOADED_LATER!r})
with TestClient(app) as client:
    client.get("/readyz").raise_for_status()
    after_probe = app.state.warm_up.thread is not None
    listing = lambda: client.get("/v1/jobs", headers={{"Authorization": "Bearer " + key}})
    app.state.warm_up.armed = False
    listing().raise_for_status()
    by_listing = sorted(later & set(sys.modules))
    app.state.warm_up.armed = True
    listing().raise_for_status()
    app.state.warm_up.thread.join(60)
    done = not app.state.warm_up.thread.is_alive()
    loaded = sorted(later & set(sys.modules))
    print(json.dumps([after_probe, by_listing, done, loaded, len(gc.get_objects()),
                      gc.get_freeze_count()]))
"""


def test_the_first_admitted_request_warms_up_what_later_ones_load_and_freezes_it(
    tmp_path: Path, sqlite_url: str
) -> None:
    env = {**os.environ, "INFERQ_DATA_DIR": str(tmp_path), "INFERQ_DATABASE_URL": sqlite_url}
    for name in ("INFERQ_BROKER_URL", "INFERQ_API_URL", "INFERQ_STORAGE_URL"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-c", START_THEN_FIRST_REQUEST], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    after_probe, by_listing, done, loaded, collected, frozen = outcome
    assert not after_probe  # a probe starts nothing: the cold start stays lean
    assert by_listing == []  # a listing loads none of them itself...
    assert done
    # ...the warm-up loaded them (gcsfs only for gs:// blobs)
    assert loaded == sorted(set(LOADED_LATER) - {"gcsfs"})
    # and froze them with the start: a full collection now walks a small part of the heap
    assert collected < frozen / 10
