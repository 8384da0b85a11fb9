"""How the project names its own command in the hints it prints.

A fresh clone installs the `inferq` entry point into `.venv/bin/`, which is not on a
shell's PATH; the images put `.venv/bin` on theirs and keep the same relative path under
their working directory. One spelling, printed everywhere, runs as printed in both.
"""

from __future__ import annotations

INFERQ = ".venv/bin/inferq"


def command_hint(arguments: str) -> str:
    """Return a runnable inferq command line in backticks, for a hint."""
    return f"`{INFERQ} {arguments}`"
