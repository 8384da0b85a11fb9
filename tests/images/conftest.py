"""The images built with deploy/images/build-local.sh, and commands run in them.

The tests need buildah: without it they skip, or fail where INFERQ_REQUIRE_IMAGES=1 (.ci/run
installs it and sets that). Image sizes and build times go to the end of the test output.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import empty_postgres_url  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "images" / "build-local.sh"
IMAGES = {"gateway": "inferq-gateway:local", "worker": "inferq-worker:local"}
LITERT_IMAGE = "inferq-worker-litert:local"  # Dockerfile.worker without TensorFlow
BUILD_TIMEOUT_SECONDS = 1500  # a cold machine: debootstrap and TensorFlow's wheel
REQUIRE_IMAGES = os.environ.get("INFERQ_REQUIRE_IMAGES") == "1"
REPORT: list[str] = []


@dataclass
class Running:
    """A command running in an image, logging to a file."""

    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        """Return what the command has written so far."""
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> float:
        """Send SIGTERM (forwarded to the command), wait, and return how long it took."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"no exit {timeout} s after SIGTERM; see {self.log}") from None
        return time.monotonic() - started

    def kill(self) -> None:
        """Kill the command and everything under it."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def need_buildah() -> None:
    """Skip (or fail, when the images are required) if buildah is not installed."""
    if shutil.which("buildah"):
        return
    message = (
        "buildah is not installed: the image tests build and run both images with it "
        "(`deploy/images/build-local.sh bases` installs it; .ci/run always runs them)"
    )
    if REQUIRE_IMAGES:
        pytest.fail(message + " and INFERQ_REQUIRE_IMAGES=1")
    pytest.skip(message)


def run_args(image: str, env: dict[str, str], volumes: dict[Path, str]) -> list[str]:
    """Return the command line that runs something in an image."""
    args = [str(SCRIPT), "run", image]
    for name, value in env.items():
        args += ["-e", f"{name}={value}"]
    for host, target in volumes.items():
        args += ["-v", f"{host}:{target}"]
    return [*args, "--"]


def run_in(
    image: str,
    command: list[str],
    env: dict[str, str] | None = None,
    volumes: dict[Path, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run a command in an image to its end and return what it printed."""
    return subprocess.run(
        [*run_args(image, env or {}, volumes or {}), *command],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_in(
    image: str,
    command: list[str],
    log: Path,
    env: dict[str, str] | None = None,
    volumes: dict[Path, str] | None = None,
) -> Running:
    """Start a long-lived command in an image."""
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [*run_args(image, env or {}, volumes or {}), *command],
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Running(process, log, env or {})


def image_config(image: str) -> dict[str, Any]:
    """Return an image's Docker configuration (entrypoint, command, env, user, health check)."""
    result = subprocess.run(
        ["buildah", "inspect", "--type", "image", image],
        capture_output=True,
        text=True,
        check=True,
    )
    config: dict[str, Any] = json.loads(result.stdout)["Docker"]["config"]
    return config


def image_size_mb(image: str) -> int:
    """Return an image's size in MB."""
    result = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Size}}", image],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout.strip()) // 1_000_000


@pytest.fixture(scope="session", autouse=True)
def buildah() -> None:
    """Check for buildah before anything else is set up."""
    need_buildah()


def build_images(model: Path, *which: str) -> None:
    """Build images with build-local.sh, a model baked in; report the time and sizes."""
    started = time.monotonic()
    result = subprocess.run(
        [str(SCRIPT), "build", "--model", str(model), *which],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    REPORT.append(f"build-local.sh build {' '.join(which)}: {time.monotonic() - started:.0f} s")
    REPORT.extend(re.findall(r"^\[images\] (.*)$", result.stderr, re.MULTILINE))


def report_size(image: str) -> None:
    """Add an image's size, and what it adds to the base image, to the report."""
    base = os.environ.get("INFERQ_BASE_IMAGE", "localhost/inferq-base:bookworm-py311")
    base_mb, size = image_size_mb(base), image_size_mb(image)
    REPORT.append(f"{image}: {size} MB, {size - base_mb} MB over the base ({base_mb} MB)")


@pytest.fixture(scope="session")
def images(model_dir: Path) -> dict[str, str]:
    """Both images, built from the committed Dockerfiles with the test model baked in."""
    build_images(model_dir, "all")
    for image in IMAGES.values():
        report_size(image)
    return IMAGES


@pytest.fixture(scope="session")
def litert_image(quantized_model_dir: Path) -> str:
    """The LiteRT worker image (no TensorFlow), with the quantised test model baked in."""
    build_images(quantized_model_dir, "worker-litert")
    report_size(LITERT_IMAGE)
    return LITERT_IMAGE


@pytest.fixture
def blobs(tmp_path: Path) -> Iterator[Path]:
    """A blob folder the images' user (10001) owns, shared by gateway and worker."""
    folder = tmp_path / "blobs"
    folder.mkdir()
    os.chown(folder, 10001, 10001)
    yield folder


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the image sizes and build times."""
    if REPORT:
        terminalreporter.section("container images")
        for line in REPORT:
            terminalreporter.write_line(line)
