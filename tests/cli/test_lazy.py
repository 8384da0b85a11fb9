"""Commands are imported when they run: `--help` lists them all, and the worker's start
imports neither the other commands nor what only they need."""

from __future__ import annotations

import json
import subprocess
import sys

import typer.main
from typer.testing import CliRunner

from cli.lazy import LazyCommand, LazyEntry, LazyGroup
from cli.main import COMMANDS, app

# What `inferq worker` must not import before it consumes: other commands, the client,
# the training and evaluation packages, TensorFlow, and what only slide jobs use (scipy).
NOT_IN_A_WORKER = [
    "cli.bench",
    "cli.keys",
    "cli.client_commands",
    "client",
    "httpx",
    "rich",
    "training",
    "evaluation",
    "gateway",
    "tensorflow",
    "keras",
    "scipy",
    "celery.bin.celery",  # the whole celery CLI, with its REPL toolkit
    "prompt_toolkit",
]


def modules_after(code: str) -> set[str]:
    """Return the modules a fresh interpreter holds after running `code`."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    answer = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(json.loads(answer.stdout.splitlines()[-1]))


def first_paragraph(text: str) -> str:
    """Return a help text's first paragraph on one line, as the command list shows it."""
    return " ".join(text.split("\n\n")[0].split())


def test_each_listed_help_line_is_the_commands_own() -> None:
    group = typer.main.get_command(app)
    listed = group.commands  # type: ignore[attr-defined]
    assert set(listed) == {entry.name for entry in COMMANDS if entry.available()}
    for name, command in listed.items():
        assert isinstance(command, LazyCommand)
        loaded = command.load()
        assert first_paragraph(loaded.help or "") == command.help, name


def test_help_lists_every_command_without_importing_one() -> None:
    code = (
        "from typer.testing import CliRunner\n"
        "from cli.main import app\n"
        "answer = CliRunner().invoke(app, ['--help'])\n"
        "assert answer.exit_code == 0, answer.output\n"
        "print(answer.output)"
    )
    loaded = modules_after(code)
    modules = {entry.target.split(":")[0] for entry in COMMANDS}
    assert modules & loaded == set()
    assert {"sqlalchemy", "httpx", "numpy", "celery"} & loaded == set()
    output = CliRunner().invoke(app, ["--help"]).output
    assert all(entry.name in output for entry in COMMANDS if entry.available())


def test_the_worker_command_imports_only_what_a_worker_needs() -> None:
    code = (
        "import typer.main\n"
        "from cli.main import app\n"
        "typer.main.get_command(app).commands['worker'].load()\n"
        # What `inferq worker` imports before the Celery worker starts consuming
        "import worker.celery_app, worker.tasks, celery.bin.worker\n"
    )
    loaded = modules_after(code)
    assert {"cli.services", "worker.celery_app", "sqlalchemy"} <= loaded  # it did run
    unwanted = {m for m in loaded if any(m == n or m.startswith(n + ".") for n in NOT_IN_A_WORKER)}
    assert unwanted == set()


def test_a_command_whose_package_is_missing_is_left_out() -> None:
    class Group(LazyGroup):
        entries = (
            LazyEntry("worker", "cli.services:worker", "Run."),
            LazyEntry("train", "no_such_package.cli:train", "Train.", requires="no_such_package"),
        )

    group = Group(name="inferq")
    assert list(group.commands) == ["worker"]


def test_a_lazy_command_runs_with_its_arguments() -> None:
    answer = CliRunner().invoke(app, ["keys", "list", "--help"])
    assert answer.exit_code == 0 and "--tenant" in answer.output
    wrong = CliRunner().invoke(app, ["worker", "--no-such-option"])
    assert wrong.exit_code == 2 and "No such option" in wrong.output
