"""`inferq models`: bring your own model, and list, promote and roll back registered versions.

TensorFlow and MLflow are imported inside the commands: the main CLI imports this module.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.model_card import CardError, ModelCard, card_schema_text
from core.native_output import import_tensorflow
from core.settings import get_settings

models_app = typer.Typer(
    help="Import a Keras model; list, promote and roll back registered versions.",
    no_args_is_help=True,
)

TrackingOption = Annotated[
    str | None,
    typer.Option("--tracking-uri", help="MLflow store [default: INFERQ_MLFLOW_TRACKING_URI]."),
]
AliasOption = Annotated[str, typer.Option("--alias", help="The alias workers load.")]


def fail(message: str) -> typer.Exit:
    """Print one error line and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def parse_size(text: str) -> tuple[int, int]:
    """Return (height, width) from `224` or `224x160`."""
    parts = text.lower().split("x")
    if len(parts) not in (1, 2) or not all(part.strip().isdigit() for part in parts):
        raise typer.BadParameter(
            "use one edge (224) or HEIGHTxWIDTH (224x160)", param_hint="--input-size"
        )
    height, width = (int(parts[0]), int(parts[-1]))
    return height, width


def register_import(out: Path, card: ModelCard, tracking_uri: str | None, alias: str) -> None:
    """Register an imported model directory and say where it landed."""
    from training.registry import RegistryError, register_directory

    uri = tracking_uri or get_settings().mlflow_tracking_uri
    try:
        registration = register_directory(uri, out, card, alias)
    except RegistryError as exc:
        raise fail(str(exc)) from exc
    target = f"models:/{registration.name}@{registration.alias}"
    typer.echo(f"registered {target} (version {registration.version})")


@models_app.command("import")
def import_command(
    model_file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="A Keras 3 `.keras` file.")
    ],
    classes: Annotated[
        str, typer.Option(help="Class names, comma-separated, in the model's output order.")
    ],
    input_size: Annotated[str, typer.Option(help="Input edge in pixels (224) or 224x160.")],
    out: Annotated[Path, typer.Option(file_okay=False, help="Model directory to write.")],
    threshold: Annotated[
        float, typer.Option(help="Decision threshold on the positive class.")
    ] = 0.5,
    positive_class: Annotated[str | None, typer.Option(help="Class the summary calls.")] = None,
    name: Annotated[str | None, typer.Option(help="Model name [default: file name].")] = None,
    version: Annotated[str | None, typer.Option(help="[default: time + file hash]")] = None,
    resample: Annotated[str, typer.Option(help="Resize filter the model expects.")] = "bilinear",
    data_hash: Annotated[str, typer.Option(help="Hash of the training data.")] = "",
    register: Annotated[bool, typer.Option(help="Also register it in MLflow.")] = False,
    tracking_uri: TrackingOption = None,
    alias: Annotated[str, typer.Option(help="Alias the registered version gets.")] = "candidate",
) -> None:
    """Check a Keras model against its card and write a model directory workers can serve."""
    import_tensorflow(get_settings().data_dir)  # its start-up lines go to a log, not here
    from training.importer import card_for_import

    try:
        card = card_for_import(
            model_file,
            class_names=[label.strip() for label in classes.split(",")],
            input_size=parse_size(input_size),
            threshold=threshold,
            positive_class=positive_class,
            name=name,
            version=version,
            resample=resample,
            data_hash=data_hash,
        )
    except CardError as exc:
        raise fail(str(exc)) from exc
    from training.importer import ModelFileError, import_model

    try:
        width = import_model(model_file, card, out)
    except ModelFileError as exc:
        raise fail(str(exc)) from exc
    output = "softmax" if width > 1 else "one sigmoid unit, served as two columns"
    typer.echo(f"imported {card.name} {card.version} to {out} ({output})")
    if register:
        register_import(out, card, tracking_uri, alias)


@models_app.command("list")
def list_command(
    name: Annotated[str | None, typer.Argument(help="Only this registered model.")] = None,
    tracking_uri: TrackingOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List registered versions: aliases, card version, data hash and test metrics."""
    from training.registry import RegistryError, list_versions

    try:
        versions = list_versions(tracking_uri or get_settings().mlflow_tracking_uri, name)
    except RegistryError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        for info in versions:
            typer.echo(json.dumps(asdict(info), default=str))
        return
    columns = ("model", "version", "aliases", "created", "card version", "data hash", "files")
    table = Table(*columns, "metrics")
    for info in versions:
        metrics = " ".join(f"{k.removeprefix('test_')}={v:.3f}" for k, v in info.metrics.items())
        created = info.created.isoformat(timespec="seconds")
        aliases = ", ".join(info.aliases)
        row = (info.name, info.version, aliases, created, info.card_version, info.data_hash[:12])
        table.add_row(*row, info.files, metrics)
    Console(width=160).print(table)


@models_app.command("promote")
def promote_command(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str, typer.Argument(help="Version to serve.")],
    alias: AliasOption = "champion",
    tracking_uri: TrackingOption = None,
) -> None:
    """Point the alias at a version; the version it replaces is remembered for a rollback."""
    from training.registry import RegistryError, promote

    try:
        move = promote(tracking_uri or get_settings().mlflow_tracking_uri, name, version, alias)
    except RegistryError as exc:
        raise fail(str(exc)) from exc
    if move.previous == move.version:
        typer.echo(f"{name}@{alias} already is version {version}")
    else:
        typer.echo(f"{name}@{alias}: version {move.previous or '(none)'} -> {move.version}")


@models_app.command("rollback")
def rollback_command(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    alias: AliasOption = "champion",
    tracking_uri: TrackingOption = None,
) -> None:
    """Point the alias back at the version it held before the last promotion."""
    from training.registry import RegistryError, rollback

    try:
        move = rollback(tracking_uri or get_settings().mlflow_tracking_uri, name, alias)
    except RegistryError as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"{name}@{alias}: version {move.previous or '(none)'} -> {move.version}")


@models_app.command("schema")
def schema_command(
    out: Annotated[Path | None, typer.Option(help="Write it here instead of stdout.")] = None,
) -> None:
    """Print the JSON Schema of model.json (docs/model.schema.json is this output)."""
    if out is None:
        typer.echo(card_schema_text(), nl=False)
    else:
        out.write_text(card_schema_text())
