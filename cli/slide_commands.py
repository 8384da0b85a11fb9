"""`inferq submit-slides` and `inferq slides`: slide jobs (uploaded or by reference) and
their outputs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from cli.client_commands import ApiKeyOption, ApiOption, api_errors, make_client
from cli.upload import LedgerOption, report_uploads, upload_files
from client.slides import SlideOutput, SlidePublic, download_output, list_slides, submit_slides

console = Console()

#: Files `--upload` takes from a folder: the scanner formats the workers read.
SLIDE_SUFFIXES = frozenset({".svs", ".tif", ".tiff", ".ndpi", ".mrxs", ".scn", ".bif", ".vms"})


def slides_table(slides: list[SlidePublic]) -> Table:
    """Return a job's slides as a table: status, progress, call and areas."""
    table = Table("slide", "status", "progress", "tiles", "call", "positive mm²", "tissue mm²")
    for slide in slides:
        area = f"{slide.positive_area_mm2:.2f}" if slide.positive_area_mm2 is not None else ""
        tissue = f"{slide.tissue_area_mm2:.2f}" if slide.tissue_area_mm2 is not None else ""
        table.add_row(
            slide.filename, slide.status + (f": {slide.error}" if slide.error else ""),
            f"{slide.progress:.0%}", str(slide.n_tiles or ""), slide.call or "", area, tissue,
        )  # fmt: skip
    return table


def local_slides(arguments: list[str]) -> list[Path]:
    """Return the files to upload: each file named, and the slide files in each folder named."""
    files: list[Path] = []
    for argument in map(Path, arguments):
        if argument.is_dir():
            files += sorted(p for p in argument.iterdir() if p.suffix.lower() in SLIDE_SUFFIXES)
        elif argument.is_file():
            files.append(argument)
        else:
            raise typer.BadParameter(f"{argument} is not a file or folder", param_hint="SLIDES")
    if not files:
        raise typer.BadParameter("no slide files found", param_hint="SLIDES")
    return files


def submit_slides_command(
    slides: list[str] = typer.Argument(
        ..., help="gs://, s3:// URLs or absolute paths; with --upload, local files or folders."
    ),
    upload: bool = typer.Option(
        False, "--upload", help="Upload local slides in resumable chunks, then submit them."
    ),
    patient: str | None = typer.Option(None, help="Patient ID of these slides."),
    ledger: Path | None = LedgerOption,
    api: str | None = ApiOption,
    api_key: str | None = ApiKeyOption,
) -> None:
    """Submit slides: uploaded from this machine (--upload, resumable) or by reference."""
    with api_errors(), make_client(api, api_key) as client:
        if upload:
            done = upload_files(client, local_slides(slides), ledger)
            report_uploads(done)
            uploads = [str(result.upload.id) for result in done]
            accepted = submit_slides(client, upload_ids=uploads, patient_id=patient)
        else:
            accepted = submit_slides(client, slides, patient_id=patient)
    console.print(f"job {accepted.job_id}: {accepted.n_items} slides queued")


def slides(
    job_id: str,
    heatmap: Path | None = typer.Option(None, "--heatmap", help="Write heatmap PNGs here."),
    geojson: Path | None = typer.Option(None, "--geojson", help="Write QuPath GeoJSON here."),
    tiles_csv: Path | None = typer.Option(None, "--tiles-csv", help="Write tile CSVs here."),
    api: str | None = ApiOption,
    api_key: str | None = ApiKeyOption,
) -> None:
    """Show a job's slides (progress, call); download their outputs into folders."""
    wanted: dict[SlideOutput, Path | None] = {
        "heatmap": heatmap, "geojson": geojson, "tiles_csv": tiles_csv,
    }  # fmt: skip
    with api_errors(), make_client(api, api_key) as client:
        found = list_slides(client, job_id)
        console.print(slides_table(found))
        for slide in (s for s in found if s.status == "succeeded"):
            for output, folder in wanted.items():
                if folder is not None:
                    console.print(f"wrote {download_output(client, slide, output, folder)}")
