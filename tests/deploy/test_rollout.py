"""deploy/rollout.py against a stand-in `gcloud` that records calls and plays Cloud Run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import ROOT

FAKE_GCLOUD = f"""#!{sys.executable}
import json, os, shutil, sys
from pathlib import Path

import yaml

state = Path(os.environ["FAKE_GCLOUD_DIR"])
with (state / "calls.jsonl").open("a") as calls:
    calls.write(json.dumps(sys.argv[1:]) + "\\n")
words = [word for word in sys.argv[1:] if not word.startswith("--")]
service = state / "service.json"
if words[:3] == ["run", "services", "describe"]:
    if not service.exists():
        sys.exit("ERROR: (gcloud.run.services.describe) Service could not be found.")
    sys.stdout.write(service.read_text())
elif words[:3] == ["run", "jobs", "replace"]:
    shutil.copy(words[3], state / "rendered-job.yaml")
elif words[:3] == ["run", "services", "replace"]:
    shutil.copy(words[3], state / "rendered.yaml")
    traffic = yaml.safe_load(Path(words[3]).read_text())["spec"]["traffic"]
    for entry in traffic:
        if "tag" in entry:
            entry["url"] = "https://" + entry["tag"] + "---svc.a.run.app"
    status = {{"url": "https://svc.a.run.app", "traffic": traffic}}
    service.write_text(json.dumps({{"status": status}}))
"""
ENVIRONMENT = {
    "PROJECT_ID": "lab-project",
    "REGION": "europe-west4",
    "SQL_INSTANCE": "lab-project:europe-west4:inferq",
    "BUCKET": "lab-inferq",
    "VPC_NETWORK": "default",
    "VPC_SUBNET": "default",
}


@pytest.fixture
def cloud(tmp_path: Path) -> Path:
    """A folder holding the stand-in gcloud, its calls and the service it describes."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gcloud = bin_dir / "gcloud"
    gcloud.write_text(FAKE_GCLOUD)
    gcloud.chmod(0o755)
    return tmp_path


def rollout(cloud: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run one rollout step with the stand-in gcloud first on PATH."""
    environment = {
        **os.environ,
        **ENVIRONMENT,
        "PATH": f"{cloud / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "FAKE_GCLOUD_DIR": str(cloud),
        **env,
    }
    command = [sys.executable, str(ROOT / "deploy" / "rollout.py"), *args]
    if args[0] != "migrate":
        command += ["--state", str(cloud / "state.json")]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=30)


def serving(cloud: Path, *traffic: dict[str, Any]) -> None:
    """Make the stand-in report a service with this traffic."""
    status = {"url": "https://svc.a.run.app", "traffic": list(traffic)}
    (cloud / "service.json").write_text(json.dumps({"status": status}))


def calls(cloud: Path) -> list[list[str]]:
    """Return the gcloud command lines run so far."""
    lines = (cloud / "calls.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_deploy_adds_a_tagged_candidate_and_moves_no_traffic(cloud: Path) -> None:
    serving(cloud, {"revisionName": "inferq-gateway-old", "percent": 100, "tag": "x"})
    image = "europe-west4-docker.pkg.dev/lab-project/inferq/gateway:0123abc"
    result = rollout(cloud, "deploy", "gateway", "--image", image, "--suffix", "0123abc-1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "https://candidate---svc.a.run.app"
    rendered = (cloud / "rendered.yaml").read_text()
    assert "${" not in rendered
    manifest = yaml.safe_load(rendered)
    template = manifest["spec"]["template"]
    assert template["metadata"]["name"] == "inferq-gateway-0123abc-1"
    assert template["spec"]["containers"][0]["image"] == image
    assert template["spec"]["serviceAccountName"].endswith("@lab-project.iam.gserviceaccount.com")
    assert manifest["spec"]["traffic"] == [
        {"revisionName": "inferq-gateway-old", "percent": 100},
        {"revisionName": "inferq-gateway-0123abc-1", "percent": 0, "tag": "candidate"},
    ]
    replace = calls(cloud)[1]
    assert replace[:3] == ["run", "services", "replace"]
    assert {"--project=lab-project", "--region=europe-west4"} <= set(replace)


def test_the_first_deploy_of_the_worker_takes_all_traffic(cloud: Path) -> None:
    result = rollout(cloud, "deploy", "worker", "--image", "w:1", "--suffix", "1-1")
    assert result.returncode == 0, result.stderr
    manifest = yaml.safe_load((cloud / "rendered.yaml").read_text())
    assert manifest["spec"]["traffic"] == [
        {"revisionName": "inferq-worker-1-1", "percent": 100, "tag": "candidate"}
    ]
    annotations = manifest["spec"]["template"]["metadata"]["annotations"]
    assert annotations["run.googleapis.com/cpu-throttling"] == "false"


def test_promote_moves_traffic_and_rollback_restores_it(cloud: Path) -> None:
    serving(
        cloud,
        {"revisionName": "inferq-gateway-a", "percent": 90},
        {"revisionName": "inferq-gateway-b", "percent": 10},
    )
    assert rollout(cloud, "deploy", "gateway", "--image", "g:2", "--suffix", "2-1").returncode == 0
    promoted = rollout(cloud, "promote", "gateway")
    assert promoted.returncode == 0, promoted.stderr
    assert promoted.stdout.strip() == "https://svc.a.run.app"
    move = calls(cloud)[-2]
    assert move[:4] == ["run", "services", "update-traffic", "inferq-gateway"]
    assert {"--to-revisions=inferq-gateway-2-1=100", "--remove-tags=candidate"} <= set(move)
    assert rollout(cloud, "rollback", "gateway").returncode == 0
    back = calls(cloud)[-1]
    assert "--to-revisions=inferq-gateway-a=90,inferq-gateway-b=10" in back
    assert "--remove-tags=candidate" in back


def test_a_missing_setting_stops_the_deploy(cloud: Path) -> None:
    result = rollout(cloud, "deploy", "gateway", "--image", "g:3", "--suffix", "3", BUCKET="")
    assert result.returncode != 0 and "BUCKET" in result.stderr
    assert not (cloud / "calls.jsonl").exists()  # nothing reached Cloud Run


def test_migrate_runs_the_job_with_the_new_image(cloud: Path) -> None:
    result = rollout(cloud, "migrate", "--image", "g:4")
    assert result.returncode == 0, result.stderr
    job = yaml.safe_load((cloud / "rendered-job.yaml").read_text())
    task = job["spec"]["template"]["spec"]["template"]["spec"]
    assert task["containers"][0]["image"] == "g:4"
    assert task["containers"][0]["args"] == ["db", "upgrade"]
    replace, execute = calls(cloud)
    assert replace[:3] == ["run", "jobs", "replace"]
    assert execute[:5] == ["run", "jobs", "execute", "inferq-migrate", "--wait"]
