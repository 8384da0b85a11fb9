"""The benchmark report's lines: ratios over TensorFlow fp32 raw of one run, the counters
it reads from the gateway and the worker, and the model-time split."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from cli.bench import ModelResult, cpu_floor, decode_cpu_ms
from cli.bench_probe import PROBE_TIMEOUT_SECONDS, HealthzWatch, Slowest
from cli.bench_report import (
    bare_server_lines,
    console,
    floor_lines,
    model_time_lines,
    print_table,
    runtime_lines,
)
from cli.bench_stack import BatchCounts, ModeResult, batch_counts, wake_up_counts
from core.settings import Settings
from gateway.publisher import Publisher
from gateway.telemetry import WakeUpCollector
from worker.metrics import WorkerMetrics


def result(architecture: str, runtime: str, raw: float, bulk: float) -> ModelResult:
    mode = ModeResult(bulk, bulk / raw, 32.0, {}, {})
    return ModelResult(architecture, runtime, (224, 224), 32, raw, 1.0, 1.0, {"bulk": mode})


def test_litert_runtimes_are_compared_with_tensorflow_raw_of_the_same_model() -> None:
    lines = runtime_lines(
        [
            result("resnet50v2", "tensorflow", 40.0, 30.0),
            result("resnet50v2", "litert-int8", 150.0, 130.0),
            result("small_cnn", "litert-int8", 1000.0, 400.0),  # no TensorFlow run: no line
        ]
    )
    assert lines == ["resnet50v2 litert-int8 over TensorFlow fp32 raw: raw 3.75x, bulk 3.25x"]


def test_the_bench_reads_the_gateways_wake_up_counters(tmp_path: Path) -> None:
    publisher = Publisher(Settings(data_dir=tmp_path, _env_file=None))  # type: ignore[call-arg]
    publisher.sent, publisher.skipped = 12, 345
    registry = CollectorRegistry()
    registry.register(WakeUpCollector(publisher))
    assert wake_up_counts(generate_latest(registry).decode()) == (12.0, 345.0)
    assert wake_up_counts("") == (0.0, 0.0)  # a gateway without them


def test_the_bench_reads_the_workers_batches_and_model_seconds() -> None:
    metrics = WorkerMetrics()
    before = batch_counts(metrics.exposition(ready=True).decode())
    metrics.observe_batch(8, {"model": 250.0, "decode": 9.0}, [0.1] * 8, 0)
    metrics.observe_batch(6, {"model": 200.0}, [0.1] * 6, 0)
    ran = batch_counts(metrics.exposition(ready=True).decode()) - before
    assert (ran.batches, ran.images) == (2, 14)
    assert abs(ran.model_seconds - 0.45) < 1e-9
    assert batch_counts("") == BatchCounts()  # a worker without them


def test_the_model_time_line_splits_a_modes_ratio() -> None:
    single = ModeResult(16.0, 0.8, 8.0, {}, {}, model_ratio_to_raw=0.9, model_busy=0.89)
    bare = ModeResult(16.0, 0.8, 8.0, {}, {})  # a report from before the split: no line
    results = [
        ModelResult("resnet50v2", "tensorflow", (224, 224), 8, 20.0, 1.0, 1.0, {"single": single}),
        ModelResult("small_cnn", "tensorflow", (96, 96), 64, 3000.0, 1.0, 1.0, {"bulk": bare}),
    ]
    assert model_time_lines(results) == [
        "resnet50v2 tensorflow: the worker's model: single 0.90x raw, running 89%"
    ]


def test_each_modes_ratio_is_shown_beside_the_raw_speed_measured_before_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bulk = ModeResult(300.0, 0.3, 64.0, {}, {}, raw_images_per_second=1000.0)
    single = ModeResult(100.0, 0.125, 8.0, {}, {}, raw_images_per_second=800.0)
    model = ModelResult("small_cnn", "tensorflow", (96, 96), 64, 900.0, 1.0, 1.0)
    model.modes = {"bulk": bulk, "single": single}
    monkeypatch.setattr(console, "width", 200)  # no cell cut short
    with console.capture() as captured:
        print_table([model])
    lines = [line for line in captured.get().splitlines() if "│" in line]
    rows = {line.split("│")[2].strip(): line for line in lines}
    assert "1000.0" in rows["bulk"] and "0.300" in rows["bulk"]
    assert "800.0" in rows["single"] and "0.125" in rows["single"]
    assert "900.0" in rows["raw"]


class SlowHealthz(BaseHTTPRequestHandler):
    """Answers /healthz after 40 ms, as a busy gateway would."""

    status = 200

    def do_GET(self) -> None:
        time.sleep(0.04)
        self.send_response(self.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        return


def watch_healthz(handler: type[BaseHTTPRequestHandler]) -> tuple[Slowest, float]:
    """Probe a loopback server for half a second; return the slowest answers and how long
    the watch took to stop."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    watch = HealthzWatch(f"http://127.0.0.1:{server.server_port}")
    try:
        watch.start()
        time.sleep(0.5)
        stopped = time.monotonic()
        return watch.stop(), time.monotonic() - stopped
    finally:
        watch.stop()  # again, or first when start failed: nothing is left running
        server.shutdown()


def test_the_healthz_watch_probes_from_its_own_process_and_keeps_the_slowest() -> None:
    slowest, stopping = watch_healthz(SlowHealthz)
    assert 40 <= slowest.healthz_ms < 1000
    assert 0 < slowest.bare_ms < 1000  # the bare server answered, at its own speed
    assert stopping < 2  # stops within one probe


class FailingHealthz(SlowHealthz):
    """Answers /healthz with 503."""

    status = 503


def test_a_failed_healthz_probe_counts_as_the_whole_timeout() -> None:
    slowest = watch_healthz(FailingHealthz)[0]
    assert slowest.healthz_ms == PROBE_TIMEOUT_SECONDS * 1000
    assert slowest.bare_ms < PROBE_TIMEOUT_SECONDS * 1000


def test_the_report_sets_each_slowest_healthz_beside_the_bare_servers() -> None:
    mode = ModeResult(100.0, 0.1, 8.0, {}, {}, healthz_max_ms=61.0, bare_max_ms=48.5)
    run = ModelResult("small_cnn", "tensorflow", (96, 96), 64, 1000.0, 1.0, 1.0, {"single": mode})
    unwatched = result("resnet50v2", "tensorflow", 40.0, 30.0)  # no bare figure: no line
    assert bare_server_lines([run, unwatched]) == [
        "small_cnn tensorflow: slowest /healthz / a bare server's slowest answer, timed "
        "alongside: single 61.0 / 48.5 ms"
    ]


def test_the_floor_line_gives_the_ceiling_that_the_model_and_decoding_leave(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1})
    run = result("small_cnn", "tensorflow", 4000.0, 1000.0)
    run.floor = cpu_floor(4000.0, model_ms=0.5, decode_ms=0.3)  # 2,000 / 0.8 ms an image
    bare = result("resnet50v2", "tensorflow", 40.0, 30.0)  # a report from before: no line
    assert floor_lines([run, bare]) == [
        "small_cnn tensorflow: CPU ms an image no mode avoids: the model 0.50 (raw), "
        "decoding 0.30; on 2 cores these alone allow 2,500 img/s, 0.62x raw"
    ]
    # A model that left a core idle at raw speed: the ceiling is raw, not more.
    assert cpu_floor(100.0, model_ms=10.0, decode_ms=1.0).ceiling_images_per_second == 100.0


def test_the_decoding_cost_is_measured_on_the_workers_own_decoder(tmp_path: Path) -> None:
    from training.synthetic import generate_dataset

    paths = generate_dataset(tmp_path, n_tiles=8, tile_size=96, seed=1)
    cost = decode_cpu_ms([path.read_bytes() for path in paths], (96, 96), passes=2)
    assert 0 < cost < 100
    with pytest.raises(ValueError):  # not an image: the worker's error, not a number
        decode_cpu_ms([b"not an image"], (96, 96), passes=1)
