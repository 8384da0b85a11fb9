"""Resumable uploads against a real gateway (uvicorn on PostgreSQL): interrupted, resumed,
completed with a verified checksum; a 200 MB-class upload keeps the gateway's RSS bounded."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from client.api import InferqClient
from client.chunked import ChunkedUploader
from client.ledger import Ledger
from db.session import get_session
from db.upload_models import UploadChunk
from tests.lone_gateway import rss_of, running_gateway, scratch_services

MIB = 2**20
FILE_MIB = 200
RSS_GROWTH_LIMIT = 120 * MIB  # a few 8 MiB chunks in flight, never the whole file


@dataclass(frozen=True)
class Gateway:
    """A gateway taking uploads: its URL, database, blob folder, process and environment."""

    url: str
    database_url: str
    blobs: Path
    pid: int
    env: dict[str, str]
    started_rss: int  # after the first request, before any upload

    def rss(self) -> int:
        """Return the gateway's resident memory in bytes."""
        return rss_of(self.pid)

    def chunks_received(self) -> int:
        """Return how many chunk rows the database holds."""
        with get_session(self.database_url) as session:
            return int(session.scalar(select(func.count()).select_from(UploadChunk)) or 0)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One gateway (keys off, default 8 MiB chunks) on a scratch PostgreSQL database."""
    tmp = tmp_path_factory.mktemp("uploads")
    with scratch_services("inferq_uploads") as (database_url, broker_url):
        settings = {
            "INFERQ_AUTH_ENABLED": "false",
            "INFERQ_RATE_LIMIT_PER_MINUTE": "0",
            "INFERQ_DATA_DIR": str(tmp / "data"),
            "INFERQ_DATABASE_URL": database_url,
            "INFERQ_BROKER_URL": broker_url,
            "INFERQ_MODEL_URI": str(tmp / "no-model"),
        }
        with running_gateway(tmp, settings) as stack:
            assert stack.gateway is not None
            pid = stack.gateway.pid
            yield Gateway(
                stack.url, database_url, tmp / "data" / "blobs", pid, stack.env, rss_of(pid)
            )


def slide_file(folder: Path, name: str, mib: int = FILE_MIB) -> Path:
    """Write a file of random bytes, a MiB at a time."""
    path = folder / name
    with path.open("wb") as handle:
        for _ in range(mib):
            handle.write(os.urandom(MIB))
    return path


def stored_sha256(gateway: Gateway, digest: str) -> str:
    """Return the SHA-256 of the bytes the gateway stored as blob `digest`."""
    hasher = hashlib.sha256()
    with (gateway.blobs / digest[:2] / digest[2:4] / digest).open("rb") as handle:
        while block := handle.read(8 * MIB):
            hasher.update(block)
    return hasher.hexdigest()


class StopError(Exception):
    """Raised by the progress callback to interrupt an upload."""


def test_an_interrupted_upload_resumes_with_only_the_missing_chunks(
    gateway: Gateway, tmp_path: Path
) -> None:
    path = slide_file(tmp_path, "slide.svs", 40)  # 5 chunks
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    sent: list[int] = []

    def stop_after_three(size: int) -> None:
        sent.append(size)
        if len(sent) == 3:
            raise StopError

    with InferqClient(gateway.url) as client, pytest.raises(StopError):
        ChunkedUploader(client, ledger).upload(path, stop_after_three)
    with InferqClient(gateway.url) as client:
        done = ChunkedUploader(client, ledger).upload(path)
    assert (done.resumed, done.sent, done.upload.status) == (3, 2, "complete")
    assert (
        stored_sha256(gateway, done.upload.sha256) == hashlib.sha256(path.read_bytes()).hexdigest()
    )


def run_cli(gateway: Gateway, path: Path, ledger: Path) -> subprocess.Popen[bytes]:
    """Start `inferq upload` in its own process."""
    command = [sys.executable, "-m", "cli.main", "upload", str(path), "--api", gateway.url]
    command += ["--ledger", str(ledger)]
    return subprocess.Popen(
        command, env=gateway.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def test_a_killed_cli_upload_resumes_when_run_again(gateway: Gateway, tmp_path: Path) -> None:
    path = slide_file(tmp_path, "killed.svs")
    ledger = tmp_path / "cli-ledger.sqlite3"
    before = gateway.chunks_received()
    first = run_cli(gateway, path, ledger)
    deadline = time.monotonic() + 120
    while gateway.chunks_received() < before + 4 and time.monotonic() < deadline:
        assert first.poll() is None, first.communicate()[0].decode()
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = run_cli(gateway, path, ledger)
    output = " ".join(second.communicate(timeout=300)[0].decode().split())  # rich wraps lines
    assert second.returncode == 0, output
    already = int(output.split(" chunk(s) sent, ")[1].split(" already there")[0])
    assert 4 <= already < 25, output
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert f"sha256 {digest}" in output
    assert stored_sha256(gateway, digest) == digest


def test_a_200_mb_upload_keeps_the_gateway_rss_bounded(gateway: Gateway, tmp_path: Path) -> None:
    path = slide_file(tmp_path, "big.svs")
    before = gateway.rss()
    peak = before
    running = True

    def sample() -> None:
        nonlocal peak
        while running:
            peak = max(peak, gateway.rss())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    try:
        with InferqClient(gateway.url) as client:
            done = ChunkedUploader(client, Ledger(tmp_path / "l.sqlite3")).upload(path)
    finally:
        running = False
        sampler.join()
    seconds = time.perf_counter() - started
    rates = f"{seconds:.1f} s ({FILE_MIB / seconds:.0f} MiB/s, hashing included)"
    memory = f"at start {gateway.started_rss / MIB:.0f}, before {before / MIB:.0f}"
    memory += f" -> peak {peak / MIB:.0f} MiB, after {gateway.rss() / MIB:.0f} MiB"
    print(f"\n{FILE_MIB} MiB in {done.upload.chunk_count} chunks, {rates}: gateway RSS {memory}")
    assert done.upload.status == "complete"
    assert peak - gateway.started_rss < RSS_GROWTH_LIMIT
