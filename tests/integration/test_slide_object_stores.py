"""Slides named by gs:// and s3:// reference, read where they lie through fsspec.

The object stores are local servers that speak each API over HTTP: moto's S3 server (read
through s3fs, as `pip install inferq[s3]` workers do) and a GCS JSON-API emulator (read
through gcsfs, the Cloud Run deployment's path). The worker reads each slide's bytes over
HTTP ranges from them; nothing is copied into blob storage.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import fsspec
import httpx
import numpy as np
import pytest

from cli.stack import Stack, free_port
from db.migrate import upgrade
from tests.integration.conftest import gateway_and_worker, stack_environment, wait_for_job
from tests.slides import SPEC, nucleus_model_dir
from training.slides import write_slide
from worker.slides.reader import open_slide

pytestmark = pytest.mark.services


def store_environment(s3_port: int, gcs_port: int) -> dict[str, str]:
    """What a process needs to read these stores: endpoints, test credentials, anonymous
    GCS, and gcsfs's plain filesystem (its default first asks for a bucket's layout over
    gRPC, which the emulator does not serve)."""
    return {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
        "AWS_ACCESS_KEY_ID": "inferq-test",
        "AWS_SECRET_ACCESS_KEY": "inferq-test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{gcs_port}",
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
        "FSSPEC_GS": json.dumps({"token": "anon"}),
    }


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Start both servers and put the test slide in each, under lab/scans/."""
    from gcp_storage_emulator.server import create_server
    from moto.server import ThreadedMotoServer

    slide = write_slide(tmp_path_factory.mktemp("object-slides") / "good.tiff", SPEC)
    s3_port, gcs_port = free_port(), free_port()
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
    gcs = create_server("127.0.0.1", gcs_port, in_memory=True, default_bucket="lab")
    s3.start()
    gcs.start()
    environment = store_environment(s3_port, gcs_port)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        patch.setitem(fsspec.config.conf, "gs", {"token": "anon"})
        import gcsfs.core
        import s3fs

        default_gs = fsspec.get_filesystem_class("gs")
        fsspec.register_implementation("gs", gcsfs.core.GCSFileSystem, clobber=True)
        s3fs.S3FileSystem.clear_instance_cache()
        gcsfs.core.GCSFileSystem.clear_instance_cache()
        s3_files = s3fs.S3FileSystem()
        s3_files.mkdir("lab")
        s3_files.put(str(slide), "lab/scans/good.tiff")
        gcsfs.core.GCSFileSystem(token="anon").put(str(slide), "lab/scans/good.tiff")
        try:
            yield {**environment, "local": str(slide)}
        finally:
            fsspec.register_implementation("gs", default_gs, clobber=True)
            s3.stop()
            gcs.stop()
            s3fs.S3FileSystem.clear_instance_cache()
            gcsfs.core.GCSFileSystem.clear_instance_cache()


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_a_slide_in_an_object_store_reads_as_the_same_pixels(
    stores: dict[str, str], scheme: str
) -> None:
    remote, local = open_slide(f"{scheme}://lab/scans/good.tiff"), open_slide(stores["local"])
    assert (remote.dimensions, remote.mpp, remote.downsamples) == (
        local.dimensions,
        local.mpp,
        local.downsamples,
    )
    for level in range(len(local.downsamples)):
        np.testing.assert_array_equal(
            remote.read_rect(900, 700, level, 320, 200), local.read_rect(900, 700, level, 320, 200)
        )
    assert open_slide(f"{scheme}://lab/scans/good.tiff").thumbnail(256).shape[1] == 256


@pytest.fixture
def store_stack(
    tmp_path: Path, postgres_url: str, redis_url: str, stores: dict[str, str]
) -> Iterator[Stack]:
    model = nucleus_model_dir(tmp_path / "model")
    env = stack_environment(tmp_path, postgres_url, redis_url, model)
    env |= {name: value for name, value in stores.items() if name != "local"}
    env["INFERQ_SLIDE_SOURCES"] = json.dumps({"default": ["s3://lab/scans", "gs://lab/scans"]})
    env["INFERQ_SLIDE_BLOCK_TILES"] = "128"
    upgrade(postgres_url)
    with gateway_and_worker(env, tmp_path) as stack:
        yield stack


def test_slides_named_in_object_stores_are_tiled_where_they_lie(store_stack: Stack) -> None:
    references = [
        {"url": "s3://lab/scans/good.tiff", "patient_id": "S3"},
        {"url": "gs://lab/scans/good.tiff", "patient_id": "GS"},
        {"url": "s3://lab/scans/absent.tiff", "patient_id": "GONE"},
    ]
    with httpx.Client(base_url=store_stack.url, timeout=60) as client:
        outside = client.post("/v1/jobs/slides", json={"slides": [{"url": "s3://lab/other.tiff"}]})
        accepted = client.post("/v1/jobs/slides", json={"slides": references})
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        assert wait_for_job(client, job_id, timeout=240)["status"] == "partially_failed"
        from_s3, from_gcs, absent = client.get(f"/v1/jobs/{job_id}/slides").json()["slides"]
    assert outside.status_code == 403
    assert absent["status"] == "failed" and absent["error"] == "slide not found"
    for slide in (from_s3, from_gcs):
        assert slide["status"] == "succeeded" and slide["call"] == "malignant"
    assert from_s3["n_tiles"] == from_gcs["n_tiles"] > 400
