"""Zero-downtime Cloud Run rollout of one inferq service from its manifest template.

    rollout.py deploy SERVICE --image IMAGE --suffix SUFFIX --state FILE
        a new revision with no traffic, tagged "candidate"; prints the candidate's URL
    rollout.py promote SERVICE --state FILE
        all traffic to the candidate, tag removed; prints the service's URL
    rollout.py rollback SERVICE --state FILE
        traffic back to the revisions that served before `deploy`, candidate tag removed
    rollout.py migrate --image IMAGE
        `inferq db upgrade` as the Cloud Run job inferq-migrate (deploy/migrate.yaml), waited for

SERVICE is `gateway` or `worker`: manifest deploy/SERVICE.yaml, Cloud Run service
inferq-SERVICE. The manifests' other ${NAME}s come from the environment (PROJECT_ID, REGION,
SQL_INSTANCE, BUCKET, VPC_NETWORK, VPC_SUBNET). A tagged revision keeps its minimum
instances even at 0 % traffic, so a candidate worker consumes tasks before promotion.
Standard library only: it runs on a bare CI runner.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from string import Template
from typing import Any

DEPLOY_DIR = Path(__file__).resolve().parent
TAG = "candidate"
ENVIRONMENT = ("PROJECT_ID", "REGION", "SQL_INSTANCE", "BUCKET", "VPC_NETWORK", "VPC_SUBNET")


def gcloud(*args: str) -> str:
    """Run a gcloud command in the configured project and region; return its stdout."""
    command = ["gcloud", *args, f"--project={os.environ['PROJECT_ID']}"]
    command.append(f"--region={os.environ['REGION']}")
    sys.stderr.write(f"+ {' '.join(command)}\n")
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def describe(name: str) -> dict[str, Any] | None:
    """Return the service as Cloud Run reports it, or None when it does not exist yet."""
    try:
        output = gcloud("run", "services", "describe", name, "--format=json")
    except subprocess.CalledProcessError as error:
        if "could not be found" in (error.stderr or "") or "NOT_FOUND" in (error.stderr or ""):
            return None
        raise
    service: dict[str, Any] = json.loads(output)
    return service


def existing(name: str) -> dict[str, Any]:
    """Return a service that must exist."""
    service = describe(name)
    if service is None:
        raise RuntimeError(f"Cloud Run service {name} not found")
    return service


def serving(service: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Return the revisions that take traffic now, with their percentages."""
    if service is None:
        return []
    traffic = service.get("status", {}).get("traffic", [])
    return [
        {"revisionName": entry["revisionName"], "percent": entry["percent"]}
        for entry in traffic
        if entry.get("percent", 0) > 0
    ]


def traffic_block(current: list[dict[str, Any]], revision: str) -> list[dict[str, Any]]:
    """Return the traffic split: unchanged, plus the new revision at 0 % under the tag."""
    if not current:  # the first deployment: nothing to protect
        return [{"revisionName": revision, "percent": 100, "tag": TAG}]
    return [*current, {"revisionName": revision, "percent": 0, "tag": TAG}]


def render(template: str, values: dict[str, str]) -> str:
    """Fill the manifest's ${NAME}s; a missing name is an error, not an empty string."""
    return Template(template).substitute(values)


def tagged_url(service: dict[str, Any]) -> str:
    """Return the URL of the revision tagged as the candidate."""
    for entry in service.get("status", {}).get("traffic", []):
        if entry.get("tag") == TAG:
            return str(entry["url"])
    raise RuntimeError(f"no revision tagged {TAG!r}")


def settings() -> dict[str, str]:
    """Return the manifests' values from the environment; every one must be set."""
    values = {key: os.environ.get(key, "") for key in ENVIRONMENT}
    if missing := [key for key, value in values.items() if not value]:
        raise SystemExit(f"set {', '.join(missing)} (the CD workflow takes them from vars)")
    return values


def write_manifest(name: str, values: dict[str, str]) -> str:
    """Render deploy/NAME.yaml into a temporary file and return its path."""
    manifest = render((DEPLOY_DIR / f"{name}.yaml").read_text(), values)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as rendered:
        rendered.write(manifest)
    return rendered.name


def migrate(image: str) -> str:
    """Update the migration job to this image and run it to completion."""
    path = write_manifest("migrate", {**settings(), "IMAGE": image})
    gcloud("run", "jobs", "replace", path, "--quiet")
    gcloud("run", "jobs", "execute", "inferq-migrate", "--wait", "--quiet")
    return "database migrated"


def deploy(service: str, image: str, suffix: str, state: Path) -> str:
    """Create the candidate revision without moving traffic; return its URL."""
    values = settings()
    name = f"inferq-{service}"
    revision = f"{name}-{suffix}"
    previous = serving(describe(name))
    values.update(
        IMAGE=image, REVISION=revision, TRAFFIC=json.dumps(traffic_block(previous, revision))
    )
    path = write_manifest(service, values)
    state.write_text(json.dumps({"revision": revision, "previous": previous}))
    gcloud("run", "services", "replace", path, "--quiet")
    return tagged_url(existing(name))


def promote(service: str, state: Path) -> str:
    """Send all traffic to the candidate and drop its tag; return the service URL."""
    name = f"inferq-{service}"
    revision = json.loads(state.read_text())["revision"]
    move = [f"--to-revisions={revision}=100", f"--remove-tags={TAG}"]
    gcloud("run", "services", "update-traffic", name, *move, "--quiet")
    return str(existing(name)["status"]["url"])


def rollback(service: str, state: Path) -> str:
    """Restore the traffic split from before the deployment and drop the candidate tag."""
    name = f"inferq-{service}"
    previous = json.loads(state.read_text())["previous"] if state.exists() else []
    split = ",".join(f"{entry['revisionName']}={entry['percent']}" for entry in previous)
    restore = [f"--to-revisions={split}"] if split else []
    gcloud("run", "services", "update-traffic", name, *restore, f"--remove-tags={TAG}", "--quiet")
    return split or "nothing served before; candidate untagged"


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run one rollout step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    for step in ("deploy", "promote", "rollback"):
        command = steps.add_parser(step)
        command.add_argument("service", choices=["gateway", "worker"])
        command.add_argument("--state", type=Path, required=True, help="shared by the steps")
        if step == "deploy":
            command.add_argument("--image", required=True, help="image reference")
            command.add_argument("--suffix", required=True, help="unique per rollout")
    steps.add_parser("migrate").add_argument("--image", required=True, help="gateway image")
    args = parser.parse_args(argv)
    if args.step == "deploy":
        result = deploy(args.service, args.image, args.suffix, args.state)
    elif args.step == "promote":
        result = promote(args.service, args.state)
    elif args.step == "rollback":
        result = rollback(args.service, args.state)
    else:
        result = migrate(args.image)
    sys.stdout.write(result + "\n")


if __name__ == "__main__":
    main()
