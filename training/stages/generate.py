"""Stage `generate`: write the synthetic dataset the pipeline trains on by default."""

from __future__ import annotations

import typer

from training.params import PipelineParams
from training.stages.common import SYNTHETIC_DIR, stage_command
from training.synthetic import generate_dataset


def generate(params: PipelineParams) -> str:
    """Generate synthetic H&E-like tiles into data/synthetic."""
    options = params.generate
    files = generate_dataset(
        SYNTHETIC_DIR,
        n_tiles=options.n_tiles,
        n_patients=options.n_patients,
        tile_size=options.tile_size,
        seed=params.seed,
    )
    return f"wrote {len(files)} tiles to {SYNTHETIC_DIR}"


if __name__ == "__main__":
    typer.run(stage_command(generate))
