"""Let this interpreter import only what a container image holds.

The deploy tests run each image's command as a local process with this folder on
PYTHONPATH. IMAGE_GUARD_DISTRIBUTIONS lists the distributions the image installs (from
uv.lock and the Dockerfile's `uv sync` extras) and IMAGE_GUARD_PACKAGES the project packages
it copies; importing anything else fails as it would in the image, even though the
development environment has it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata
import os
import re
import sys
from collections.abc import Mapping, Sequence
from types import ModuleType

PROJECT_PACKAGES = {"core", "db", "gateway", "worker", "training", "evaluation", "client", "cli"}


def normalize(name: str) -> str:
    """Return a distribution name in its canonical form."""
    return re.sub(r"[-_.]+", "-", name).lower()


class ImageGuard(importlib.abc.MetaPathFinder):
    """Refuse top-level modules that the image does not hold."""

    def __init__(self, distributions: set[str], packages: set[str]) -> None:
        self.distributions = {normalize(name) for name in distributions} | {"inferq"}
        self.packages = packages
        self.decided: dict[str, str | None] = {}
        self.owners: Mapping[str, list[str]] | None = None

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        top = fullname.partition(".")[0]
        if top not in self.decided:
            self.decided[top] = self.refusal(top)
        if self.decided[top] is not None:
            raise ModuleNotFoundError(f"No module named {fullname!r} ({self.decided[top]})")
        return None  # let the ordinary finders find it

    def refusal(self, top: str) -> str | None:
        """Return why the image lacks a top-level module, or None when it has it."""
        if top in sys.stdlib_module_names:
            return None
        if top in PROJECT_PACKAGES:
            return None if top in self.packages else "the image does not copy this package"
        if self.owners is None:
            self.owners = importlib.metadata.packages_distributions()
        owners = self.owners.get(top, [])
        if not owners or any(normalize(owner) in self.distributions for owner in owners):
            return None
        return f"{', '.join(owners)} is not installed in the image"


if "IMAGE_GUARD_DISTRIBUTIONS" in os.environ:
    sys.meta_path.insert(
        0,
        ImageGuard(
            set(os.environ["IMAGE_GUARD_DISTRIBUTIONS"].split(",")),
            set(os.environ.get("IMAGE_GUARD_PACKAGES", "").split(",")),
        ),
    )
