"""Reading the deployment files, and running what the containers run as local processes."""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text

from tests.conftest import POSTGRES_ADMIN_URL, need

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
MANIFESTS = {name: ROOT / "deploy" / f"{name}.yaml" for name in ("gateway", "worker", "migrate")}
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
IMAGE_SITE = Path(__file__).parent / "image_site"
VENV_BIN = Path(sys.executable).parent
PROJECT_PACKAGES = {"core", "db", "gateway", "worker", "training", "evaluation", "client", "cli"}


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    keyword: str
    value: str


def dockerfile_stages(path: Path) -> list[list[Instruction]]:
    """Return a Dockerfile's instructions, one list per build stage."""
    stages: list[list[Instruction]] = []
    logical = ""
    for line in path.read_text().splitlines():
        if not logical and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        keyword, _, value = (logical + line).strip().partition(" ")
        logical = ""
        if keyword.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(Instruction(keyword.upper(), value.strip()))
    return stages


def final(path: Path, keyword: str) -> list[Instruction]:
    """Return the final stage's instructions of one kind."""
    return [i for i in dockerfile_stages(path)[-1] if i.keyword == keyword]


def exec_form(instruction: Instruction) -> list[str]:
    """Return the argument list of an exec-form (JSON) instruction."""
    value: list[str] = json.loads(instruction.value)
    return value


def stage_env(instructions: list[Instruction]) -> dict[str, str]:
    """Return the environment a stage's ENV instructions set."""
    env: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "ENV":
            for word in shlex.split(instruction.value):
                key, _, value = word.partition("=")
                env[key] = value
    return env


def image_env(path: Path, **build_args: str) -> dict[str, str]:
    """Return the environment the image's final stage sets, build arguments expanded."""
    arguments = build_arguments(path, **build_args)
    return {k: expand(v, arguments) for k, v in stage_env(dockerfile_stages(path)[-1]).items()}


def build_arguments(path: Path, **given: str) -> dict[str, str]:
    """Return the Dockerfile's ARG defaults, with the build arguments `given` over them."""
    defaults = {}
    for line in path.read_text().splitlines():
        name, equals, value = line.removeprefix("ARG ").partition("=")
        if line.startswith("ARG ") and equals:
            defaults[name] = value
    return {**defaults, **given}


def image_extras(path: Path, **build_args: str) -> set[str]:
    """Return the extras the image installs with `uv sync` (every sync must agree)."""
    arguments = build_arguments(path, **build_args)
    syncs = [
        shlex.split(expand(i.value.split("uv sync", 1)[1], arguments))
        for stage in dockerfile_stages(path)
        for i in stage
        if i.keyword == "RUN" and "uv sync" in i.value
    ]
    extras = [{a for b, a in itertools.pairwise(words) if b == "--extra"} for words in syncs]
    assert syncs and all(e == extras[0] for e in extras), f"{path.name}: uv sync extras differ"
    return extras[0]


def expand(text: str, arguments: dict[str, str]) -> str:
    """Return text with each `${NAME}` of a build argument replaced by its value."""
    return re.sub(r"\$\{(\w+)\}", lambda m: arguments.get(m.group(1), m.group(0)), text)


def image_packages(path: Path) -> set[str]:
    """Return the project packages the image copies from the build context."""
    sources = [
        shlex.split(i.value)[0]
        for stage in dockerfile_stages(path)
        for i in stage
        if i.keyword == "COPY" and not i.value.startswith("--from")
    ]
    return {source.strip("/") for source in sources} & PROJECT_PACKAGES


@cache
def locked_distributions(extras: frozenset[str]) -> frozenset[str]:
    """Return every distribution uv.lock installs for the project with these extras, no dev."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    packages = {package["name"]: package for package in lock["package"]}
    todo: list[tuple[str, frozenset[str]]] = [("inferq", extras)]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:  # markers are ignored: every platform here is Linux
        name, wanted = todo.pop()
        if (name, wanted) in seen:
            continue
        seen.add((name, wanted))
        package = packages[name]
        requirements = list(package.get("dependencies", []))
        for extra in wanted:
            requirements += package.get("optional-dependencies", {}).get(extra, [])
        todo += [(r["name"], frozenset(r.get("extra", []))) for r in requirements]
    return frozenset(name for name, _ in seen)


@cache
def compose() -> dict[str, Any]:
    """Return the parsed compose file."""
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def interpolate(value: str) -> str:
    """Expand compose's ${NAME} and ${NAME:-default} from this environment."""

    def expand(match: re.Match[str]) -> str:
        return os.environ.get(match["name"]) or match["default"] or ""

    return re.sub(r"\$\{(?P<name>\w+)(?::-(?P<default>[^}]*))?\}", expand, value)


def service(name: str) -> dict[str, Any]:
    """Return one compose service."""
    definition: dict[str, Any] = compose()["services"][name]
    return definition


def dockerfile_of(name: str) -> Path:
    """Return the Dockerfile a compose service builds."""
    return ROOT / service(name)["build"]["dockerfile"]


def built_services() -> list[str]:
    """Return the compose services that run one of our images."""
    return [name for name, definition in compose()["services"].items() if "build" in definition]


def container_command(name: str) -> list[str]:
    """Return the command line a compose service's container runs: entrypoint + command."""
    dockerfile = dockerfile_of(name)
    entrypoint = service(name).get("entrypoint") or exec_form(final(dockerfile, "ENTRYPOINT")[-1])
    command = service(name).get("command") or exec_form(final(dockerfile, "CMD")[-1])
    assert isinstance(entrypoint, list) and isinstance(command, list), "use exec form"
    return [*entrypoint, *command]


def compose_environment(name: str) -> dict[str, str]:
    """Return the environment compose gives a service (without the optional .env)."""
    environment = service(name).get("environment", {})
    if isinstance(environment, list):
        environment = dict(entry.split("=", 1) for entry in environment)
    return {key: interpolate(str(value)) for key, value in environment.items()}


def local_command(name: str) -> list[str]:
    """Return the service's command line for this machine: `inferq` from this interpreter."""
    command = container_command(name)
    assert command[0] == "inferq", command
    return [sys.executable, "-m", "cli.main", *command[1:]]


def local_environment(name: str, **local: str) -> dict[str, str]:
    """Return the container's environment with its addresses swapped for local ones.

    Only what the image installs and copies can be imported (see image_site/).
    """
    dockerfile = dockerfile_of(name)
    container = {**image_env(dockerfile), **compose_environment(name)}
    container.pop("PATH")
    assert set(local) <= set(container), f"{name} does not set {set(local) - set(container)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERQ_") and k != "PORT"}
    env.update(container)
    env.update(local)
    env.update(image_guard(dockerfile))
    return env


def image_guard(dockerfile: Path) -> dict[str, str]:
    """Return the environment that limits imports to what an image holds."""
    distributions = locked_distributions(frozenset(image_extras(dockerfile)))
    return {
        "PYTHONPATH": str(IMAGE_SITE),
        "IMAGE_GUARD_DISTRIBUTIONS": ",".join(sorted(distributions)),
        "IMAGE_GUARD_PACKAGES": ",".join(sorted(image_packages(dockerfile))),
    }


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a process in the log's folder (so no .env is read), logging to a file."""
    with log.open("ab") as handle:
        return subprocess.Popen(
            command, env=env, cwd=log.parent, stdout=handle, stderr=subprocess.STDOUT
        )


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A new PostgreSQL database with no schema, dropped afterwards."""
    need(POSTGRES_ADMIN_URL, "PostgreSQL")
    name = f"inferq_deploy_{os.getpid()}_{os.urandom(3).hex()}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
