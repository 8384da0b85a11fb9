"""Both images built from the committed Dockerfiles, and a job run end to end through them.

The compose services migrate, gateway and worker run from their images with compose's
commands and environment, so a wrong command, variable or path in docker-compose.yml or a
Dockerfile fails here.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import httpx
import pytest

from cli.stack import free_port
from client import InferqClient
from client.files import UploadPart
from core.job_status import FINAL_STATUSES
from db.api_keys import create_key
from db.session import get_session
from tests.archives import zip_bytes
from tests.gateway.conftest import png_bytes
from tests.images.compose_run import (
    compose_command,
    container_environment,
    container_volumes,
    health_command,
    image_user,
    service_image,
)
from tests.images.conftest import ROOT, Running, run_in, start_in

pytestmark = [pytest.mark.images, pytest.mark.services]

IMAGE_USER = 10001
SIGTERM_BUDGET_SECONDS = 10.0  # Cloud Run's grace period before SIGKILL
HAS_NO = "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) for m in sys.argv[1:]))"


def test_gateway_image_holds_no_tensorflow_and_every_package_file(images: dict[str, str]) -> None:
    gateway = images["gateway"]
    absent = run_in(gateway, ["python", "-c", HAS_NO, "tensorflow", "keras"])
    assert absent.returncode == 0, f"TensorFlow in the gateway image: {absent.stderr}"
    listing = run_in(
        gateway,
        [
            "python",
            "-c",
            "import gateway, pathlib; p = pathlib.Path(gateway.__file__).parent; "
            "print('\\n'.join(str(f.relative_to(p)) for f in p.rglob('*') if f.is_file()))",
        ],
    )
    assert listing.returncode == 0, listing.stderr
    installed = set(listing.stdout.split())
    shipped = {
        str(path.relative_to(ROOT / "gateway"))
        for path in (ROOT / "gateway").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert shipped <= installed, f"missing from the gateway image: {sorted(shipped - installed)}"


def test_worker_image_holds_the_model_it_was_built_with(
    images: dict[str, str], model_dir: Path
) -> None:
    card = run_in(images["worker"], ["cat", "/app/models/default/model.json"])
    assert card.returncode == 0, card.stderr
    assert json.loads(card.stdout) == json.loads((model_dir / "model.json").read_text())


def wait_healthy(url: str, running: Running, timeout: float) -> None:
    """Poll a URL until it answers 200, failing if the command exits first."""
    deadline = time.monotonic() + timeout
    while True:
        assert running.process.poll() is None, f"exited:\n{running.text()[-3000:]}"
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        assert time.monotonic() < deadline, f"{url} not healthy:\n{running.text()[-3000:]}"
        time.sleep(0.2)


def command_uids(root_pid: int) -> set[int]:
    """Return the user IDs of the processes the command runs as (buildah's own left out)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
    tree, uids = {root_pid}, set()
    for _ in range(10):
        tree |= {pid for pid, parent in parents.items() if parent in tree}
    for pid in tree:
        with contextlib.suppress(OSError):
            if (Path(f"/proc/{pid}/cmdline").read_bytes() or b"buildah").startswith(b"/app/"):
                status = Path(f"/proc/{pid}/status").read_text()
                uids.add(
                    int(next(x for x in status.splitlines() if x.startswith("Uid:")).split()[1])
                )
    return uids


def start_service(
    name: str, tmp_path: Path, addresses: dict[str, str], named: dict[str, Path]
) -> Running:
    """Start a compose service's command from its image; return it with its environment."""
    env = container_environment(name, free_port(), **addresses)
    return start_in(
        service_image(name),
        compose_command(name),
        tmp_path / f"{name}.log",
        env=env,
        volumes=container_volumes(name, named),
    )


def submit_and_wait(url: str, key: str, tmp_path: Path) -> list[str]:
    """Send two images and a zip of two more as one job; return every item's label."""
    files = {f"tile-{n}.png": png_bytes(seed=n, size=(96, 96)) for n in range(2)}
    files["folder.zip"] = zip_bytes(
        {f"folder/slide-{n}.png": png_bytes(seed=10 + n) for n in range(2)}
    )
    parts = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        parts.append(UploadPart(name, tmp_path / name, len(data)))
    with InferqClient(url, api_key=key) as client:
        job_id = client.create_job(parts).job_id
        deadline = time.monotonic() + 120
        while (job := client.get_job(job_id)).status not in FINAL_STATUSES:
            assert time.monotonic() < deadline, f"job still {job.status}"
            time.sleep(0.5)
        assert job.status == "succeeded", job
        results = list(client.iter_results(job_id))
    return [str(result.label) for result in results if result.status == "succeeded"]


def test_compose_stack_runs_a_job_through_the_images(
    images: dict[str, str],
    empty_postgres_url: str,
    redis_url: str,
    model_dir: Path,
    blobs: Path,
    tmp_path: Path,
) -> None:
    addresses = {"INFERQ_DATABASE_URL": empty_postgres_url, "INFERQ_BROKER_URL": redis_url}
    migrate_env = container_environment("migrate", free_port(), **addresses)
    migrated = run_in(service_image("migrate"), compose_command("migrate"), env=migrate_env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    named = {"blobs": blobs}
    worker = start_service("worker", tmp_path, addresses, named)
    gateway = start_service("gateway", tmp_path, addresses, named)
    try:
        gateway_url = f"http://127.0.0.1:{gateway.env['PORT']}"
        wait_healthy(f"http://127.0.0.1:{worker.env['PORT']}/", worker, timeout=120)
        wait_healthy(f"{gateway_url}/readyz", gateway, timeout=60)
        for running, name in ((gateway, "gateway"), (worker, "worker")):
            image = service_image(name)
            check = run_in(image, health_command(image), env=running.env)
            assert check.returncode == 0, f"{name} HEALTHCHECK: {check.stderr}"
            assert image_user(image) == f"{IMAGE_USER}:{IMAGE_USER}"
            assert command_uids(running.process.pid) == {IMAGE_USER}, name
        with get_session(empty_postgres_url) as session:
            key = create_key("images", session=session).plaintext
        labels = submit_and_wait(gateway_url, key, tmp_path)
        assert len(labels) == 4 and set(labels) <= {"benign", "malignant"}
        with InferqClient(gateway_url, api_key=key) as client:
            served = client.model_card()
        card = json.loads((model_dir / "model.json").read_text())
        assert served is not None and (served.name, served.version) == (
            card["name"],
            card["version"],
        )
        assert worker.stop() < SIGTERM_BUDGET_SECONDS + 5, worker.text()[-2000:]
        assert worker.process.returncode == 0, worker.text()[-2000:]
        gateway.stop()
    finally:
        worker.kill()
        gateway.kill()
