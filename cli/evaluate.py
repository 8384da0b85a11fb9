"""`inferq evaluate`: is the deployed model still as good as when it was trained?"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import typer
from rich.markup import escape
from rich.table import Table

from cli.client_commands import ApiKeyOption, ApiOption, api_errors, console, errors, make_client
from client.api import InferqClient
from client.files import UploadPart
from client.upload import upload_files
from core.model_card import CARD_FILE, ModelCard
from core.settings import get_settings
from evaluation.dataset import Sample, load_samples, samples_manifest
from evaluation.report import EvaluationReport
from evaluation.run import build_report


def read_card(path: Path) -> ModelCard:
    """Read a model card from a model directory or a model.json file."""
    file = path / CARD_FILE if path.is_dir() else path
    return ModelCard.model_validate(json.loads(file.read_text()))


def number(value: float | None) -> str:
    """Return a metric with three decimals, or n/a."""
    return "n/a" if value is None else f"{value:.3f}"


def report_table(report: EvaluationReport) -> Table:
    """Return the headline numbers of a report as a two-column table."""
    table = Table("metric", "value", title=f"evaluation of job {report.job_id}")
    rows = {
        "images (classified)": f"{report.n} ({report.n_classified})",
        "accuracy": number(report.accuracy),
        "recorded test accuracy": number(report.comparison.recorded_accuracy),
        f"precision / recall / F1 ({report.positive_class or 'macro'})": " / ".join(
            number(v) for v in (report.precision, report.recall, report.f1)
        ),
        "ROC AUC": number(report.roc_auc),
        "patients (accuracy)": f"{report.per_patient.n_patients} "
        f"({number(report.per_patient.accuracy)})",
        "latency p50 / p95 ms": f"{report.latency_ms['total']['p50']} / "
        f"{report.latency_ms['total']['p95']}",
        "images per second": f"{report.images_per_second}",
    }
    for name, value in rows.items():
        table.add_row(name, value)
    return table


@contextmanager
def unfinished_fails(api: str) -> Iterator[None]:
    """Turn an API that stops answering, or a job that does not finish, into FAIL, exit 1."""
    try:
        yield
    except TimeoutError as exc:
        errors.print(f"[red]FAIL[/red]: {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from exc
    except httpx.TransportError as exc:
        errors.print(f"[red]FAIL[/red]: {api} did not answer: {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from exc


def run_evaluation(
    client: InferqClient,
    samples: list[Sample],
    card: ModelCard | None,
    limit: int,
    max_drop: float,
    timeout: float,
) -> EvaluationReport:
    """Send the samples with their labels and patients as one job, wait, and score it."""
    started = time.monotonic()
    parts = [UploadPart(s.name, s.path, s.path.stat().st_size) for s in samples]
    manifest = samples_manifest(samples)
    uploaded = upload_files(client, parts, manifest=manifest, max_request_bytes=limit)
    client.wait_for_job(uploaded.job_id, poll_seconds=0.25, timeout=timeout)
    wall_seconds = time.monotonic() - started
    items = [item.model_dump(mode="json") for item in client.iter_results(uploaded.job_id)]
    rule = {"threshold": card.threshold, "positive_class": card.positive_class} if card else {}
    summary = client.summary(uploaded.job_id, **rule)
    return build_report(
        samples,
        items,
        [group.model_dump(mode="json") for group in summary.patients],
        job_id=uploaded.job_id,
        wall_seconds=wall_seconds,
        card=card,
        max_drop=max_drop,
        api_url=client.base_url,
    )


def show(result: EvaluationReport, report: Path | None) -> None:
    """Write the JSON report if asked, then print the table and the verdict."""
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(result.model_dump_json(indent=2) + "\n")
        console.print(f"wrote {report}")
    console.print(report_table(result))
    comparison = result.comparison
    if comparison.passed:
        console.print(f"[green]PASS[/green]: {escape(comparison.reason)}", soft_wrap=True)
        return
    console.print(f"[red]FAIL[/red]: {len(comparison.failures)} of the gate's rules broken")
    for failure in comparison.failures:  # one line each, unwrapped, for CI logs and grep
        console.print(f"  - {escape(failure)}", soft_wrap=True, highlight=False)


def evaluate(
    data: Path = typer.Option(..., exists=True, file_okay=False, help="Labelled folder."),
    manifest: Path | None = typer.Option(
        None, help="CSV filename,label[,patient_id] [default: DATA/manifest.csv, else sub-folders]."
    ),
    report: Path | None = typer.Option(None, help="Write the JSON report here."),
    model_card: Path | None = typer.Option(
        None, exists=True, help="model.json (or its folder) to judge by [default: GET /v1/model]."
    ),
    max_drop: float = typer.Option(0.05, help="Largest allowed drop below test_accuracy."),
    timeout: float = typer.Option(
        600.0, min=1, help="Seconds the job may take to finish; then FAIL."
    ),
    max_request_bytes: int | None = typer.Option(None, help="Split uploads under this size."),
    api: str | None = ApiOption,
    api_key: str | None = ApiKeyOption,
) -> None:
    """Send a labelled folder through the API, report metrics, and apply the deploy gate.

    Labels come from class sub-folders (DATA/<label>/...) or a manifest; patient IDs from
    the manifest or the file name up to its last '_'. Exit status 1 (FAIL, with every
    reason) unless all of: a model card recording test_accuracy; every image classified by
    the card's model; a call for every patient; accuracy at most --max-drop below
    test_accuracy; the job finished within --timeout with the API answering.
    """
    try:
        samples = load_samples(data, manifest)
    except ValueError as exc:
        errors.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    limit = max_request_bytes or get_settings().client_max_request_bytes
    with api_errors(), make_client(api, api_key) as client, unfinished_fails(client.base_url):
        card = read_card(model_card) if model_card else client.model_card()
        console.print(f"evaluating {len(samples)} images against {client.base_url}")
        result = run_evaluation(client, samples, card, limit, max_drop, timeout)
    show(result, report)
    if not result.comparison.passed:
        raise typer.Exit(1)
