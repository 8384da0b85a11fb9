"""Training stages as commands: `inferq data generate` and `inferq train`.

Mount with `app.add_typer(data_app, name="data")` and `app.add_typer(train_app)`. This
module must not import TensorFlow: the main CLI imports it, and the gateway image has no
TensorFlow. The training modules are imported inside the commands.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from core.logging import configure_logging
from core.model_card import ModelCard
from core.native_output import import_tensorflow
from core.settings import get_settings
from training.defaults import ARCHITECTURES, DEFAULT_ARCHITECTURE, DEFAULT_EPOCHS, DEFAULT_TILES

logger = logging.getLogger(__name__)

data_app = typer.Typer(help="Make training data.", no_args_is_help=True)
train_app = typer.Typer(help="Train models.")

OutOption = Annotated[Path, typer.Option("--out", help="Folder to write the dataset into.")]
TilesOption = Annotated[
    int, typer.Option("--n", min=2, help="Tiles to generate (train: only without --data).")
]
SeedOption = Annotated[int, typer.Option("--seed", help="Random seed.")]
QuickOption = Annotated[bool, typer.Option("--quick", help="Train, test and export in one go.")]
ModelOutOption = Annotated[
    Path | None, typer.Option("--out", help="Model folder to export (default: INFERQ_MODEL_URI).")
]
DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data", exists=True, file_okay=False, help="Class-folder dataset; generated if left out."
    ),
]
ArchitectureOption = Annotated[
    str, typer.Option("--architecture", help=f"One of {', '.join(ARCHITECTURES)}.")
]
EpochsOption = Annotated[int, typer.Option("--epochs", min=1, help="Most epochs to train.")]


def _setup_logging() -> None:
    """Configure logging unless the parent CLI already did."""
    if not logging.getLogger().handlers:
        settings = get_settings()
        configure_logging(settings.log_level, json_lines=settings.log_json)


@data_app.callback()
def data() -> None:
    """Make training data."""


@data_app.command("generate")
def generate(
    out: OutOption,
    n: TilesOption = DEFAULT_TILES,
    seed: SeedOption = 0,
    patients: Annotated[
        int | None, typer.Option(min=1, help="Number of patients (default: n / 20).")
    ] = None,
    size: Annotated[int, typer.Option(min=16, help="Tile edge in pixels.")] = 96,
) -> None:
    """Generate a synthetic H&E-like dataset: <out>/<label>/<patient>_<nnnn>.png."""
    _setup_logging()
    from training.synthetic import generate_dataset

    files = generate_dataset(out, n_tiles=n, n_patients=patients, tile_size=size, seed=seed)
    typer.echo(f"wrote {len(files)} tiles to {out}")


def _default_out() -> Path:
    """Return the model folder the workers serve when nothing is configured."""
    uri = get_settings().model_uri
    if "://" in uri or uri.startswith("models:/"):
        raise typer.BadParameter(f"INFERQ_MODEL_URI is {uri!r}, not a folder; pass --out")
    return Path(uri)


@train_app.command("train")
def train(
    quick: QuickOption = False,
    out: ModelOutOption = None,
    data: DataOption = None,
    epochs: EpochsOption = DEFAULT_EPOCHS,
    seed: SeedOption = 0,
    architecture: ArchitectureOption = DEFAULT_ARCHITECTURE,
    n: TilesOption = DEFAULT_TILES,
) -> None:
    """Train a model on a dataset (synthetic if none given) and export it for the workers."""
    if not quick:
        message = "pass --quick; the full pipeline is `dvc repro` (README: Training pipeline)"
        raise typer.BadParameter(message, param_hint="--quick")
    if architecture not in ARCHITECTURES:
        choices = ", ".join(ARCHITECTURES)
        raise typer.BadParameter(f"choose from {choices}", param_hint="--architecture")
    _setup_logging()
    target = out or _default_out()
    with tempfile.TemporaryDirectory(prefix="inferq-data-") as scratch:
        if data is None:
            from training.synthetic import generate_dataset

            data = Path(scratch)
            logger.info("no --data given: generating %d synthetic tiles (seed %d)", n, seed)
            generate_dataset(data, n_tiles=n, seed=seed)
        card = _train_quick(data, target, epochs=epochs, seed=seed, architecture=architecture)
    typer.echo(f"exported {card.name} {card.version} to {target}")
    for key in ("test_accuracy", "test_auc", "val_accuracy", "n_train", "n_test"):
        typer.echo(f"  {key}: {card.metrics.get(key, float('nan')):.4g}")


def _train_quick(
    data: Path, target: Path, *, epochs: int, seed: int, architecture: str
) -> ModelCard:
    """Run training.train.train_quick, importing TensorFlow only now; report bad data plainly."""
    import_tensorflow(get_settings().data_dir)  # its start-up lines go to a log, not here
    from training.train import train_quick

    try:
        return train_quick(
            data,
            target,
            epochs=epochs,
            seed=seed,
            architecture=architecture,
            threads=get_settings().tf_threads,
        )
    except ValueError as exc:  # an unusable dataset: say why, without a traceback
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
