"""Commands listed by name and help, whose modules are imported only when they run.

`inferq worker` should not pay for the bench's, the client's or the key store's imports
(SQLAlchemy, httpx, rich tables...), and `inferq --help` for none of them. Each command is
an entry naming the module and attribute that define it and the line `--help` shows; the
module is imported when the command runs or shows its own help. tests/cli/test_lazy.py
checks each listed line against the command's own docstring.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class LazyEntry:
    """One command: its name, where it is defined (`module:attribute`) and its help line.

    `requires` names a project package the command needs: without it the command is left
    out (the images install only some of them).
    """

    name: str
    target: str
    help: str
    requires: str | None = None

    def available(self) -> bool:
        """Return whether the package the command needs is installed."""
        return self.requires is None or installed(self.requires)


def installed(package: str) -> bool:
    """Return whether a project package is part of this installation."""
    try:
        return importlib.util.find_spec(package) is not None
    except ModuleNotFoundError:  # a finder that refuses the name outright
        return False


def load_command(entry: LazyEntry) -> Any:
    """Import an entry's module and return its command as Click sees it."""
    module_name, attribute = entry.target.split(":")
    target = getattr(importlib.import_module(module_name), attribute)
    if isinstance(target, typer.Typer):
        return typer.main.get_group(target)
    single = typer.Typer(add_completion=False)
    single.command(entry.name)(target)
    return typer.main.get_command(single)


class LazyCommand(TyperCommand):
    """A command shown by its help line; parsing and running go to the loaded command."""

    def __init__(self, entry: LazyEntry) -> None:
        super().__init__(entry.name, help=entry.help, short_help=entry.help)
        self.entry = entry
        self._loaded: Any = None

    def load(self) -> Any:
        """Return the real command, importing its module the first time."""
        if self._loaded is None:
            self._loaded = load_command(self.entry)
        return self._loaded

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        """Parse the arguments with the real command (the context then invokes it)."""
        return self.load().make_context(info_name, args, parent=parent, **extra)


class LazyGroup(TyperGroup):
    """A group whose commands come from `entries`, each imported only when it runs."""

    entries: tuple[LazyEntry, ...] = ()

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for entry in self.entries:
            if entry.available():
                self.add_command(LazyCommand(entry))
