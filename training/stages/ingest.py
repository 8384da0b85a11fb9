"""Stage `ingest`: index the source folder (synthetic by default) into data/index.csv."""

from __future__ import annotations

import logging
from collections import Counter

import typer

from training.layouts import index_folder
from training.params import PipelineParams
from training.rows import write_rows
from training.stages.common import INDEX_FILE, stage_command

logger = logging.getLogger(__name__)


def ingest(params: PipelineParams) -> str:
    """List every labelled image of the source folder with its patient; never touch the images."""
    options = params.ingest
    rows = index_folder(options.source, options.layout, options.magnification)
    write_rows(rows, INDEX_FILE)
    labels = Counter(row["label"] for row in rows)
    patients = len({row["patient_id"] for row in rows})
    return f"indexed {len(rows)} images of {patients} patients {dict(labels)} into {INDEX_FILE}"


if __name__ == "__main__":
    typer.run(stage_command(ingest))
