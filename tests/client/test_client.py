"""The client without a server: retries, upload splitting, folders, the watch ledger."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from client.api import ApiError, InferqClient
from client.files import UploadPart, collect_parts, plan_requests
from client.ledger import Ledger
from client.upload import FilesTooLargeError, upload_files
from client.watch import Watcher, WatchOptions, results_csv

JOB = "11111111-1111-4111-8111-111111111111"
LINKS = {"self": "/s", "results": "/r", "csv": "/c"}


def accepted(n: int, status: str = "open") -> dict[str, object]:
    return {"job_id": JOB, "status": status, "n_items": n, "links": LINKS}


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> InferqClient:
    return InferqClient(
        "http://api", transport=httpx.MockTransport(handler), attempts=3, max_wait=0.05
    )


def parts(tmp_path: Path, sizes: list[int]) -> list[UploadPart]:
    found = []
    for index, size in enumerate(sizes):
        path = tmp_path / f"{index}.png"
        path.write_bytes(b"x" * size)
        found.append(UploadPart(path.name, path, size))
    return found


def test_429_and_503_are_retried_with_the_same_idempotency_key(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []
    answers = [httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(503)]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0) if answers else httpx.Response(202, json=accepted(1, "queued"))

    with client_for(handler) as client:
        answer = client.create_job(parts(tmp_path, [10]))
    assert answer.n_items == 1 and len(seen) == 3
    assert len({request.headers["Idempotency-Key"] for request in seen}) == 1
    assert all(b"xxxxxxxxxx" in request.read() for request in seen)  # the file is resent whole


def test_refusals_are_not_retried_and_exhausted_retries_raise(tmp_path: Path) -> None:
    calls = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(415, json={"detail": "no acceptable image"})

    with client_for(refuse) as client, pytest.raises(ApiError) as error:
        client.get_job(JOB)
    assert (error.value.status_code, error.value.detail, len(calls)) == (
        415,
        "no acceptable image",
        1,
    )

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with client_for(down) as client, pytest.raises(ApiError) as error:
        client.metrics()
    assert error.value.status_code is None and "cannot reach" in error.value.detail


def test_bearer_key_and_missing_model_card() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer secret"
        return httpx.Response(404, json={"detail": "no card"})

    client = InferqClient("http://api", api_key="secret", transport=httpx.MockTransport(handler))
    assert client.model_card() is None


def test_requests_stay_under_the_size_and_part_limits(tmp_path: Path) -> None:
    files = parts(tmp_path, [3000] * 10)
    requests, too_large = plan_requests(files, max_request_bytes=10_000, max_parts=50)
    assert [len(r) for r in requests] == [2, 2, 2, 2, 2] and too_large == []
    requests, _ = plan_requests(files, max_request_bytes=100_000, max_parts=4)
    assert [len(r) for r in requests] == [4, 4, 2]
    _, too_large = plan_requests(parts(tmp_path, [20_000]), max_request_bytes=10_000, max_parts=9)
    assert len(too_large) == 1


def test_a_large_upload_becomes_one_open_job_then_closed(tmp_path: Path) -> None:
    log: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        log.append(f"{request.method} {request.url.path}")
        body = request.read()
        assert len(body) <= 10_000
        if request.url.path == "/v1/jobs":
            assert b'name="close"\r\n\r\nfalse' in body and b'name="manifest"' in body
        if request.url.path.endswith("/close"):
            job = {"job_id": JOB, "status": "queued", "created_at": "2026-01-01T00:00:00Z"}
            counts = dict.fromkeys(["total", "queued", "running", "succeeded", "failed"], 0)
            return httpx.Response(200, json={**job, "counts": {**counts, "cancelled": 0}})
        return httpx.Response(202, json=accepted(body.count(b'name="files"')))

    with client_for(handler) as client:
        result = upload_files(
            client, parts(tmp_path, [3000] * 5), manifest=b"filename\n", max_request_bytes=10_000
        )
    assert log == [
        "POST /v1/jobs",
        f"POST /v1/jobs/{JOB}/items",
        f"POST /v1/jobs/{JOB}/items",
        f"POST /v1/jobs/{JOB}/close",
    ]
    assert result.total("n_items") == 5
    with client_for(handler) as client, pytest.raises(FilesTooLargeError):
        upload_files(client, parts(tmp_path, [50_000]), max_request_bytes=10_000)


def test_folders_are_collected_with_relative_names_and_no_clutter(tmp_path: Path) -> None:
    for name in [
        "a/1.png",
        "a/b/2.png",
        "a/.DS_Store",
        "a/__MACOSX/x.png",
        "a/.hidden/3.png",
        "a/Thumbs.db",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "single.png").write_bytes(b"yy")
    found = collect_parts([tmp_path / "a", tmp_path / "single.png"])
    assert [(p.name, p.size) for p in found] == [("1.png", 1), ("b/2.png", 1), ("single.png", 2)]
    with pytest.raises(FileNotFoundError):
        collect_parts([tmp_path / "nope"])


def test_the_watcher_takes_a_file_only_once_it_stops_changing(tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    folder.mkdir()
    options = WatchOptions(folder, folder / ".ledger.sqlite3", settle_seconds=0.0)
    watcher = Watcher(client_for(lambda r: httpx.Response(500)), options, notify=lambda m: None)
    growing = folder / "slide" / "tile.png"
    growing.parent.mkdir()
    growing.write_bytes(b"a")
    (folder / "done.png.inferq.json").write_text("{}")
    (folder / "copying.png.part").write_bytes(b"a")
    assert watcher.settled(time.monotonic()) == []  # first sight: not known to be complete
    with growing.open("ab") as handle:
        handle.write(b"b")
    os.utime(growing, ns=(time.time_ns(), time.time_ns() + 1000))
    assert watcher.settled(time.monotonic()) == []  # it grew since the last scan
    assert [p.name for p in watcher.settled(time.monotonic())] == ["slide/tile.png"]
    watcher.ledger.close()


def test_the_ledger_survives_a_reopen(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    ledger.add_batch("k1", [("a.png", 1), ("b.png", 2)])
    ledger.refuse("huge.tif", 10**9, "too large")
    ledger.close()
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    assert ledger.known() == {"a.png", "b.png", "huge.tif"}
    assert [(b.key, b.paths) for b in ledger.batches("pending")] == [("k1", ["a.png", "b.png"])]
    ledger.mark_sent("k1", JOB)
    ledger.finish("k1", {"a.png": {"status": "succeeded"}, "b.png": {"status": "failed"}})
    assert ledger.batches("done")[0].job_id == JOB
    assert [path for path, _ in ledger.results()] == ["a.png", "b.png", "huge.tif"]
    assert json.loads(json.dumps(dict(ledger.results())))["huge.tif"]["error"] == "too large"
    ledger.close()


def test_the_watcher_records_refusals_instead_of_resending_forever(tmp_path: Path) -> None:
    calls: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(415, json={"detail": "no acceptable image in the upload"})

    folder = tmp_path / "outbox"
    folder.mkdir()
    (folder / "notes.txt").write_text("not an image")
    options = WatchOptions(folder, tmp_path / "ledger.sqlite3", settle_seconds=0.0)
    watcher = Watcher(client_for(refuse), options, notify=lambda m: None)
    for _ in range(4):
        watcher.step()
    result = json.loads((folder / "notes.txt.inferq.json").read_text())
    assert result == {"status": "refused", "error": "no acceptable image in the upload"}
    assert len(calls) == 1 and watcher.idle()
    watcher.ledger.close()


def test_the_results_file_neutralises_formula_names() -> None:
    text = results_csv([("=cmd|' /C calc'!A0.png", {"label": "@SUM(1)", "probability": 0.9})])
    assert text.splitlines()[1] == "'=cmd|' /C calc'!A0.png,,,'@SUM(1),0.9,,"
