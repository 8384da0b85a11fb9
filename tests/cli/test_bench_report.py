"""The runtime lines of the benchmark report: ratios over TensorFlow fp32 raw of one run."""

from __future__ import annotations

from cli.bench import ModelResult
from cli.bench_report import runtime_lines
from cli.bench_stack import ModeResult


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
