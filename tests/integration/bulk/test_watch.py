"""`inferq watch`: files appearing in an outbox go up once, even across restarts and crashes."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from cli.stack import inferq_command, stop_process
from client.api import InferqClient
from client.files import UploadPart
from client.ledger import Ledger
from tests.integration.bulk.conftest import SharedStack
from tests.integration.conftest import tile_bytes

LEDGER = ".inferq-watch.sqlite3"


def start_watch(stack: SharedStack, outbox: Path, log: Path) -> subprocess.Popen[bytes]:
    command = inferq_command("watch", str(outbox), "--api", stack.url, "--interval", "0.2")
    command += ["--settle", "0.5"]
    with log.open("ab") as handle:
        return subprocess.Popen(command, env=stack.env, stdout=handle, stderr=subprocess.STDOUT)


def wait_for_results(outbox: Path, names: list[str], log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not all((outbox / f"{name}.inferq.json").exists() for name in names):
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)


def items_by_name(database_url: str, prefix: str) -> dict[str, list[int]]:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT filename, size_bytes FROM items WHERE filename LIKE :p"),
            {"p": f"{prefix}%"},
        ).all()
    engine.dispose()
    found: dict[str, list[int]] = {}
    for name, size in rows:
        found.setdefault(name, []).append(size)
    return found


def write_slowly(path: Path, data: bytes, pieces: int = 4) -> None:
    """Write a file in pieces over about a second, as a scanner would."""
    size = len(data) // pieces + 1
    with path.open("wb") as handle:
        for start in range(0, len(data), size):
            handle.write(data[start : start + size])
            handle.flush()
            time.sleep(0.3)


def crash_after_sending(stack: SharedStack, outbox: Path, name: str) -> None:
    """Leave the ledger as a crash would: a request reached the gateway, its answer was lost."""
    path = outbox / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(tile_bytes(9200, size=32))
    key = "crash-window-key"
    with InferqClient(stack.url) as client:
        client.create_job([UploadPart(name, path, path.stat().st_size)], idempotency_key=key)
    ledger = Ledger(outbox / LEDGER)
    ledger.add_batch(key, [(name, path.stat().st_size)])
    ledger.close()


def test_watch_sends_each_file_once_across_restarts(
    shared_stack: SharedStack, tmp_path: Path
) -> None:
    outbox, log = tmp_path / "outbox", tmp_path / "watch.log"
    (outbox / "run1").mkdir(parents=True)
    first = [f"run1/w{i}.png" for i in range(3)]
    for i, name in enumerate(first):
        (outbox / name).write_bytes(tile_bytes(9000 + i, size=32))
    slow = tile_bytes(9100, size=96)
    watcher = start_watch(shared_stack, outbox, log)
    try:
        write_slowly(outbox / "run1" / "slow.png", slow)  # while the watcher runs
        (outbox / "run1" / "late.png").write_bytes(tile_bytes(9101, size=32))
        wait_for_results(outbox, [*first, "run1/slow.png", "run1/late.png"], log)
    finally:
        watcher.kill()  # no clean shutdown: the ledger alone must carry the state
        watcher.wait()
    crash_after_sending(shared_stack, outbox, "run2/crash.png")
    (outbox / "run2" / "new.png").write_bytes(tile_bytes(9201, size=32))
    os.utime(outbox / "run1" / "w0.png")  # touched again: already taken, not sent again
    watcher = start_watch(shared_stack, outbox, log)
    try:
        wait_for_results(outbox, ["run2/crash.png", "run2/new.png"], log)
        time.sleep(1.5)  # give a faulty watcher the chance to send something twice
    finally:
        stop_process(watcher)
    sent = items_by_name(shared_stack.database_url, "run")
    expected = [*first, "run1/slow.png", "run1/late.png", "run2/crash.png", "run2/new.png"]
    assert sorted(sent) == sorted(expected)
    assert all(len(sizes) == 1 for sizes in sent.values()), sent
    assert sent["run1/slow.png"] == [len(slow)]  # taken only once it was complete
    result = json.loads((outbox / "run1" / "slow.png.inferq.json").read_text())
    assert result["status"] == "succeeded" and result["label"] in {"benign", "malignant"}
