"""The runtime lines of the benchmark report: ratios over TensorFlow fp32 raw of one run."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from cli.bench import ModelResult
from cli.bench_report import runtime_lines
from cli.bench_stack import ModeResult, wake_up_counts
from core.settings import Settings
from gateway.publisher import Publisher
from gateway.telemetry import WakeUpCollector


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
