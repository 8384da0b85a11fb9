"""Every command the project prints as a hint runs as printed on a fresh clone."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from cli.demo import CLOSING_HINT
from cli.main import app
from core.commands import INFERQ, command_hint

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["cli", "client", "core", "db", "gateway", "worker", "training", "evaluation"]
# A hint names a command in backticks; `inferq sub...` there runs only with .venv on PATH
BARE = re.compile(r"`inferq (?=[a-z])")
HINT = re.compile(re.escape(INFERQ) + r" ([a-z][\w -]*)")


def docstrings(tree: ast.AST) -> set[int]:
    """Return the ids of the string nodes that are docstrings."""
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            found.add(id(first.value))
    return found


def printed_strings() -> list[tuple[str, str]]:
    """Return (place, text) for every string literal that is not a docstring."""
    strings = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text())
            skip = docstrings(tree)
            for node in ast.walk(tree):
                literal = isinstance(node, ast.Constant) and isinstance(node.value, str)
                if literal and id(node) not in skip:
                    strings.append((f"{path.relative_to(ROOT)}:{node.lineno}", node.value))
    return strings


def test_no_printed_hint_names_inferq_off_the_path() -> None:
    bare = [(place, text) for place, text in printed_strings() if BARE.search(text)]
    assert bare == [], "hints must name the command as it runs: use core.commands.command_hint"


def test_each_hinted_subcommand_exists() -> None:
    hinted = {
        "gateway",
        "worker",
        "demo --keep-running",
        "db upgrade",
        "keys create --tenant NAME",
        "train --quick --out models/default",
    }
    runner = CliRunner()
    for arguments in hinted:
        words = [w for w in shlex.split(arguments) if not w.startswith("-") and not w.isupper()]
        words = [w for w in words if w not in {"models/default"}]
        answer = runner.invoke(app, [*words, "--help"])
        assert answer.exit_code == 0, (arguments, answer.output)
        for flag in (w for w in shlex.split(arguments) if w.startswith("--")):
            assert flag in answer.output, (arguments, flag)
        assert HINT.search(command_hint(arguments))
    assert (ROOT / INFERQ).exists(), "make install puts the entry point where hints say"


def test_the_demos_closing_hint_runs_as_printed() -> None:
    commands = re.findall(r"`([^`]+)`", CLOSING_HINT)
    assert commands and all(INFERQ in command for command in commands), commands
    runner = CliRunner()
    for command in commands:
        arguments = shlex.split(command.split(INFERQ, 1)[1].rstrip(")"))
        answer = runner.invoke(app, [w for w in arguments if not w.startswith("--")] + ["--help"])
        assert answer.exit_code == 0, (command, answer.output)
