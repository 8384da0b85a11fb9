"""Each built compose service run from its image: its command, environment and volumes.

Compose's service host names (postgres, redis, mlflow, ...) become 127.0.0.1; the database
and broker URLs then point at the test's own database and Redis index, and PORT at a free
port, since these run on the host's network beside other tests.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.deploy.conftest import ROOT, compose, compose_environment, service
from tests.images.conftest import image_config

LOCAL_ADDRESSES = ("INFERQ_DATABASE_URL", "INFERQ_BROKER_URL")


def service_image(name: str) -> str:
    """Return the image a built compose service runs."""
    image: str = service(name)["image"]
    return image


def compose_command(name: str) -> list[str]:
    """Return what the service's container runs: the image's entrypoint, then compose's command."""
    config = image_config(service_image(name))
    entrypoint = service(name).get("entrypoint") or config.get("Entrypoint") or []
    command = service(name).get("command") or config.get("Cmd") or []
    assert isinstance(command, list), f"{name}: use the exec form"
    return [*entrypoint, *command]


def loopback(value: str) -> str:
    """Return a value with every compose service's host name replaced by 127.0.0.1."""
    names = "|".join(re.escape(name) for name in compose()["services"])
    return re.sub(rf"(?<=[/@])({names})(?=[:/]|$)", "127.0.0.1", value)


def container_environment(name: str, port: int, **local: str) -> dict[str, str]:
    """Return compose's environment for the service with the local addresses swapped in."""
    environment = {key: loopback(value) for key, value in compose_environment(name).items()}
    missing = set(local) - set(environment)
    assert not missing, f"compose gives {name} no {missing}"
    return {**environment, **local, "PORT": str(port)}


def container_volumes(name: str, named: dict[str, Path]) -> dict[Path, str]:
    """Return the service's volumes: named volumes from `named`, bind mounts from the repo."""
    volumes: dict[Path, str] = {}
    for entry in service(name).get("volumes", []):
        source, target = str(entry).split(":")[:2]
        volumes[named[source] if source in named else (ROOT / source).resolve()] = target
    return volumes


def health_command(image: str) -> list[str]:
    """Return the image's HEALTHCHECK command line."""
    test: list[str] = image_config(image)["Healthcheck"]["Test"]
    assert test[0] == "CMD", f"{image}: HEALTHCHECK in exec form"
    return test[1:]


def image_user(image: str) -> Any:
    """Return the user an image runs as."""
    return image_config(image).get("User")
