"""The images, the compose file, the Cloud Run manifests and the workflows, checked as files."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from pydantic import AliasChoices

from cli.lazy import LazyCommand
from cli.main import app
from core.settings import Settings
from tests.deploy.conftest import (
    COMPOSE_FILE,
    MANIFESTS,
    ROOT,
    VENV_BIN,
    WORKFLOWS,
    built_services,
    compose,
    compose_environment,
    container_command,
    dockerfile_stages,
    exec_form,
    final,
    image_env,
    image_extras,
    locked_distributions,
    service,
    stage_env,
)

DOCKERFILES = sorted(ROOT.glob("Dockerfile.*"))
# Variables read by something other than Settings, and what reads them.
EXTERNAL_VARIABLES = {
    "PORT": "uvicorn's port and the worker's health port (Cloud Run sets it)",
    "PATH": "the shell",
    "PYTHONUNBUFFERED": "Python",
    "PYTHONDONTWRITEBYTECODE": "Python",
    "TF_CPP_MIN_LOG_LEVEL": "TensorFlow's C++ logging",
    "UV_COMPILE_BYTECODE": "uv, at build time",
    "UV_LINK_MODE": "uv, at build time",
    "UV_PYTHON_DOWNLOADS": "uv, at build time",
    "POSTGRES_USER": "the postgres image",
    "POSTGRES_PASSWORD": "the postgres image",
    "POSTGRES_DB": "the postgres image",
    "MLFLOW_SERVER_ALLOWED_HOSTS": "the MLflow tracking server",
}
SHA_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def run_tool(*command: str) -> subprocess.CompletedProcess[str]:
    """Run one of the venv's static checkers from the repository root."""
    tool = VENV_BIN / command[0]
    return subprocess.run([tool, *command[1:]], cwd=ROOT, capture_output=True, text=True)


def setting_variables() -> set[str]:
    """Return every environment variable Settings reads."""
    names = set()
    for name, field in Settings.model_fields.items():
        if isinstance(field.validation_alias, AliasChoices):
            names |= {str(choice) for choice in field.validation_alias.choices}
        else:
            names.add(f"INFERQ_{name.upper()}")
    return names


def manifest_containers(path: Path) -> list[dict[str, Any]]:
    """Return the containers of a Knative manifest, a service's or a job's."""
    spec = yaml.safe_load(path.read_text())["spec"]
    while "containers" not in spec:
        spec = spec["template"]["spec"]
    containers: list[dict[str, Any]] = spec["containers"]
    return containers


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_finds_no_warnings(dockerfile: Path) -> None:
    result = run_tool("hadolint", "--failure-threshold", "warning", dockerfile.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_follow_the_github_schema() -> None:
    paths = [str(path) for path in WORKFLOWS]
    result = run_tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *paths)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_follows_the_compose_spec() -> None:
    result = run_tool(
        "check-jsonschema", "--builtin-schema", "vendor.compose-spec", COMPOSE_FILE.name
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_in_the_workflows() -> None:
    result = run_tool("zizmor", "--offline", ".github/workflows")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", ["migrate", "gateway", "worker"])
def test_compose_commands_are_inferq_commands(name: str) -> None:
    command = container_command(name)
    assert command[0] == "inferq"
    group = typer.main.get_command(app)
    args = command[1:]
    while hasattr(group, "commands"):  # walk down groups to the subcommand
        group = group.commands[args.pop(0)]
        if isinstance(group, LazyCommand):
            group = group.load()
    group.make_context(command[1], args)  # raises on an unknown option or argument


def test_image_defaults_are_inferq_commands() -> None:
    for dockerfile in DOCKERFILES:
        assert exec_form(final(dockerfile, "ENTRYPOINT")[-1]) == ["inferq"]
        default = exec_form(final(dockerfile, "CMD")[-1])
        assert default[0] in typer.main.get_command(app).commands  # type: ignore[attr-defined]


def test_every_environment_variable_is_read_by_something() -> None:
    known = setting_variables() | set(EXTERNAL_VARIABLES)
    services = compose()["services"]
    used = {(f"compose {name}", v) for name in services for v in compose_environment(name)}
    for path in DOCKERFILES:
        used |= {(path.name, v) for stage in dockerfile_stages(path) for v in stage_env(stage)}
    for path in MANIFESTS.values():
        used |= {(path.name, e["name"]) for c in manifest_containers(path) for e in c["env"]}
    assert {(where, variable) for where, variable in used if variable not in known} == set()


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_images_are_multi_stage_pinned_non_root_with_a_healthcheck(dockerfile: Path) -> None:
    stages = dockerfile_stages(dockerfile)
    assert len(stages) >= 3  # uv, build, runtime
    assert "ARG PYTHON_IMAGE=python:3.11." in dockerfile.read_text()  # an exact patch release
    assert re.search(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+ ", dockerfile.read_text())
    user = final(dockerfile, "USER")[-1].value.split(":")[0]
    assert user.isdigit() and int(user) != 0
    healthcheck = final(dockerfile, "HEALTHCHECK")[-1].value
    assert " CMD [" in f" {healthcheck}"  # exec form
    assert image_env(dockerfile)["PORT"] == "8080"
    for keyword in ("ENTRYPOINT", "CMD"):
        exec_form(final(dockerfile, keyword)[-1])  # JSON, so the process is PID 1


def test_only_the_worker_image_holds_tensorflow_and_the_model() -> None:
    gateway = (ROOT / "Dockerfile.gateway").read_text()
    worker = (ROOT / "Dockerfile.worker").read_text()
    assert "worker" not in image_extras(ROOT / "Dockerfile.gateway") and "models/" not in gateway
    assert image_extras(ROOT / "Dockerfile.worker") == {"worker", "gcs"}
    assert "COPY ${MODEL_DIR} /app/models/default" in worker
    assert image_env(ROOT / "Dockerfile.worker")["INFERQ_MODEL_URI"] == "/app/models/default"


def test_the_litert_worker_image_installs_no_tensorflow_and_serves_litert() -> None:
    dockerfile = ROOT / "Dockerfile.worker"
    script = (ROOT / "deploy" / "images" / "build-local.sh").read_text()
    assert "WORKER_EXTRA=litert INFERQ_RUNTIME=litert" in script  # build worker-litert
    extras = image_extras(dockerfile, WORKER_EXTRA="litert")
    assert extras == {"litert", "gcs"}
    distributions = locked_distributions(frozenset(extras))
    assert "ai-edge-litert" in distributions
    assert {"tensorflow-cpu", "keras", "h5py"} & distributions == set()
    litert = image_env(dockerfile, WORKER_EXTRA="litert", INFERQ_RUNTIME="litert")
    assert litert["INFERQ_RUNTIME"] == "litert"
    default = image_env(dockerfile)["INFERQ_RUNTIME"]
    assert default == Settings.model_fields["runtime"].default  # the TensorFlow image: auto


def test_dockerignore_admits_what_the_images_copy_and_nothing_else() -> None:
    lines = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()]
    patterns = [line for line in lines if not line.startswith("#")]
    assert patterns[0] == "*"
    admitted = {line[1:].rstrip("/") for line in patterns if line.startswith("!")}
    assert not admitted & {".env", "data", "models", ".venv", "mlruns", ".inferq"}
    for dockerfile in DOCKERFILES:
        for stage in dockerfile_stages(dockerfile):
            for instruction in stage:
                if instruction.keyword == "COPY" and not instruction.value.startswith("--from"):
                    for source in shlex.split(instruction.value)[:-1]:
                        source = source.replace("${MODEL_DIR}", "models/default").rstrip("/")
                        assert source in admitted, f"{dockerfile.name} copies {source}"


def test_compose_stack_waits_for_healthy_services() -> None:
    for name in ("postgres", "redis", "mlflow"):
        assert service(name)["healthcheck"]["test"], name
    assert "pgdata:/var/lib/postgresql/data" in service("postgres")["volumes"]
    redis = " ".join(service("redis")["command"])
    assert "--appendonly yes" in redis and "--maxmemory-policy noeviction" in redis
    assert service("migrate")["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("gateway", "worker"):
        depends_on = service(name)["depends_on"]
        assert depends_on["postgres"]["condition"] == "service_healthy"
        assert depends_on["redis"]["condition"] == "service_healthy"
        assert depends_on["migrate"]["condition"] == "service_completed_successfully"
        assert "blobs:/data/blobs" in service(name)["volumes"]  # one blob store for both
        assert not service(name).get("healthcheck", {}).get("disable")  # the image's
    worker = service("worker")
    assert "container_name" not in worker and "ports" not in worker  # --scale worker=N
    assert service("flower")["profiles"]
    assert service("mlflow")["image"].startswith("ghcr.io/mlflow/mlflow:v")


def test_compose_addresses_name_compose_services() -> None:
    for name in built_services():
        env = compose_environment(name)
        assert "@postgres:5432/" in env["INFERQ_DATABASE_URL"]
        assert env["INFERQ_BROKER_URL"].startswith("redis://redis:6379/")
        assert env["INFERQ_STORAGE_URL"] == "/data/blobs"
        assert env["INFERQ_DATA_DIR"] == "/data"  # writable by the image's user, unlike /app
        assert service(name)["env_file"] == [{"path": ".env", "required": False}]


def test_cloud_run_worker_is_always_on_and_probed() -> None:
    manifest = yaml.safe_load(MANIFESTS["worker"].read_text())
    annotations = manifest["spec"]["template"]["metadata"]["annotations"]
    assert annotations["run.googleapis.com/cpu-throttling"] == "false"
    assert int(annotations["autoscaling.knative.dev/minScale"]) >= 1
    assert manifest["metadata"]["annotations"]["run.googleapis.com/ingress"] == "internal"
    (container,) = manifest_containers(MANIFESTS["worker"])
    port = container["ports"][0]["containerPort"]
    assert container["startupProbe"]["httpGet"] == {"path": "/", "port": port}


def test_cloud_run_reads_secrets_from_secret_manager_and_reaches_cloud_sql() -> None:
    for name, path in MANIFESTS.items():
        template = yaml.safe_load(path.read_text())["spec"]["template"]
        assert "run.googleapis.com/cloudsql-instances" in template["metadata"]["annotations"]
        (container,) = manifest_containers(path)
        env = {entry["name"]: entry for entry in container["env"]}
        needed = {"INFERQ_DATABASE_URL"} | ({"INFERQ_BROKER_URL"} if name != "migrate" else set())
        assert needed <= set(env), path.name
        for secret in {"INFERQ_DATABASE_URL", "INFERQ_BROKER_URL"} & set(env):
            assert "secretKeyRef" in env[secret].get("valueFrom", {}), f"{path.name}: {secret}"
        if "INFERQ_STORAGE_URL" in env:
            assert env["INFERQ_STORAGE_URL"]["value"].startswith("gs://")
    gateway = yaml.safe_load(MANIFESTS["gateway"].read_text())["spec"]["template"]["spec"]
    assert gateway["containerConcurrency"] >= 1 and gateway["timeoutSeconds"] >= 30


def test_actions_are_pinned_and_permissions_are_least() -> None:
    for path in WORKFLOWS:
        text = path.read_text()
        workflow = yaml.safe_load(text)
        assert workflow["permissions"] == {}, path.name
        for job_name, job in workflow["jobs"].items():
            assert "permissions" in job, f"{path.name}: {job_name}"
            writes = {k for k, v in job["permissions"].items() if v == "write"}
            assert writes <= {"id-token"}, f"{path.name}: {job_name} writes {writes}"
            for step in job.get("steps", []):
                if "uses" in step:
                    assert SHA_PINNED.match(step["uses"]), f"{path.name}: {step['uses']}"
        for line in text.splitlines():
            if re.search(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40}", line):
                assert re.search(r"# v\d+\.\d+\.\d+$", line), f"{path.name}: no version: {line}"


def test_compose_images_and_cloud_run_never_turn_keys_off() -> None:
    """Only the demo may set INFERQ_AUTH_ENABLED=false; the deployed stacks keep the default."""
    found = {f"compose {name}": compose_environment(name) for name in compose()["services"]}
    for path in DOCKERFILES:
        found[path.name] = {
            k: v for stage in dockerfile_stages(path) for k, v in stage_env(stage).items()
        }
    for path in MANIFESTS.values():
        found[path.name] = {
            e["name"]: e.get("value") for c in manifest_containers(path) for e in c["env"]
        }
    assert {where for where, env in found.items() if "INFERQ_AUTH_ENABLED" in env} == set()
    assert Settings(_env_file=None).auth_enabled  # type: ignore[call-arg]


# What only a worker needs to find and run its model; the gateway reads the database.
MODEL_SETTINGS = {
    "INFERQ_MODEL_URI",
    "INFERQ_MLFLOW_TRACKING_URI",
    "INFERQ_MODEL_POLL_SECONDS",
    "INFERQ_TF_THREADS",
}


def test_the_gateway_is_given_nothing_about_the_model() -> None:
    given = {
        "compose gateway": set(compose_environment("gateway")),
        "compose migrate": set(compose_environment("migrate")),
        "Dockerfile.gateway": set(image_env(ROOT / "Dockerfile.gateway")),
    }
    for name in ("gateway", "migrate"):
        given[MANIFESTS[name].name] = {
            entry["name"]
            for container in manifest_containers(MANIFESTS[name])
            for entry in container["env"]
        }
    assert {where: names & MODEL_SETTINGS for where, names in given.items()} == {
        where: set() for where in given
    }
    for name in ("gateway", "migrate"):
        assert not [v for v in service(name).get("volumes", []) if "model" in v], name
    assert "models/" not in (ROOT / "Dockerfile.gateway").read_text()


def test_the_compose_worker_reads_the_compose_registry_and_serves_the_baked_model() -> None:
    env = compose_environment("worker")
    assert env["INFERQ_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert "mlflow" in compose()["services"]
    baked = image_env(ROOT / "Dockerfile.worker")["INFERQ_MODEL_URI"]
    if "INFERQ_MODEL_URI" not in os.environ:  # compose takes the shell's value when set
        assert env["INFERQ_MODEL_URI"] == baked == "/app/models/default"


def test_flower_gets_task_events_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    flower = service("flower")
    assert flower["profiles"] == ["monitoring"]
    assert f"--broker={compose_environment('worker')['INFERQ_BROKER_URL']}" in flower["command"]
    monkeypatch.delenv("INFERQ_TASK_EVENTS", raising=False)
    for name in ("gateway", "worker"):  # the publisher's task-sent, the worker's others
        assert compose_environment(name)["INFERQ_TASK_EVENTS"] == "false"
    monkeypatch.setenv("INFERQ_TASK_EVENTS", "true")
    for name in ("gateway", "worker"):
        assert compose_environment(name)["INFERQ_TASK_EVENTS"] == "true"


def cd_steps() -> list[dict[str, Any]]:
    """Return the steps of the CD workflow's deploy job, in order."""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "cd.yml").read_text())
    steps: list[dict[str, Any]] = workflow["jobs"]["deploy"]["steps"]
    return steps


def test_cd_gates_the_candidate_with_a_key_and_the_baked_card_before_promoting() -> None:
    steps = cd_steps()
    names = [step.get("name", "") for step in steps]
    (gate,) = [step for step in steps if "deploy/gate.sh" in step.get("run", "")]
    assert gate["env"]["INFERQ_API_KEY"] == "${{ secrets.SMOKE_API_KEY }}"
    assert "models/default/model.json" in gate["run"]  # what Dockerfile.worker bakes in
    assert "COPY ${MODEL_DIR} /app/models/default" in (ROOT / "Dockerfile.worker").read_text()
    assert gate.get("timeout-minutes")
    assert not [step for step in steps if "inferq evaluate" in step.get("run", "")]
    promote = names.index("Move traffic to the new revisions")
    assert steps.index(gate) < promote
    (rollback,) = [step for step in steps if "rollout.py rollback" in step.get("run", "")]
    assert "failure()" in rollback["if"] and steps.index(rollback) == len(steps) - 1


def test_prometheus_scrapes_the_gateway_and_every_worker_where_they_listen() -> None:
    prometheus = service("prometheus")
    assert prometheus["profiles"] == ["monitoring"]
    config = yaml.safe_load((ROOT / "deploy" / "compose" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    gateway_port = service("gateway")["ports"][0].rsplit(":", 1)[1]
    assert jobs["gateway"]["static_configs"][0]["targets"] == [f"gateway:{gateway_port}"]
    worker_port = re.search(r"PORT=(\d+)", (ROOT / "Dockerfile.worker").read_text())
    assert worker_port is not None  # the worker's health endpoint, which serves /metrics
    discovery = jobs["worker"]["dns_sd_configs"][0]
    assert discovery["names"] == ["worker"] and discovery["port"] == int(worker_port.group(1))
