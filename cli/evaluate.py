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
from evaluation.markdown import figure, render_markdown
from evaluation.report import EvaluationReport
from evaluation.run import GateOptions, build_report


def read_card(path: Path) -> ModelCard:
    """Read a model card from a model directory or a model.json file."""
    file = path / CARD_FILE if path.is_dir() else path
    return ModelCard.model_validate(json.loads(file.read_text()))


def load_card(client: InferqClient, path: Path | None) -> ModelCard | None:
    """Return the card to judge by (the file, else the served one), or None if unreadable."""
    try:
        return read_card(path) if path else client.model_card()
    except ValueError as exc:  # bad JSON or a card that does not validate: no card
        errors.print(f"[yellow]warning:[/yellow] model card unreadable: {escape(str(exc))}")
        return None


def number(value: float | None, interval: tuple[float, float] | None = None) -> str:
    """Return a metric with three decimals and its 95% interval, or n/a."""
    return figure(value, interval)


def report_table(report: EvaluationReport) -> Table:
    """Return the headline numbers of a report as a two-column table."""
    table = Table("metric", "value", title=f"evaluation of job {report.job_id}")
    rows = {
        "images (classified)": f"{report.n} ({report.n_classified})",
        "accuracy [95% CI]": number(report.accuracy, report.intervals.accuracy),
        "recorded test accuracy": number(report.comparison.recorded_accuracy),
        f"precision / recall / F1 ({report.positive_class or 'macro'})": " / ".join(
            number(v) for v in (report.precision, report.recall, report.f1)
        ),
        "ROC AUC [95% CI]": number(report.roc_auc, report.intervals.roc_auc),
        "recorded test AUC": number(report.comparison.recorded_auc),
        "patients (accuracy [95% CI])": f"{report.n_patients} "
        f"({number(report.per_patient.accuracy, report.intervals.patient_accuracy)})",
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
    options: GateOptions,
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
        options=options,
        api_url=client.base_url,
    )


def show(result: EvaluationReport, report: Path | None) -> None:
    """Write the JSON report and its Markdown twin if asked, then print the table and verdict."""
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(result.model_dump_json(indent=2) + "\n")
        readable = report.with_suffix(".md")
        readable.write_text(render_markdown(result))
        console.print(f"wrote {report} and {readable}")
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
    report: Path | None = typer.Option(
        None, help="Write the JSON report here, and a Markdown one beside it (same name, .md)."
    ),
    model_card: Path | None = typer.Option(
        None, exists=True, help="model.json (or its folder) to judge by [default: GET /v1/model]."
    ),
    tolerance: float = typer.Option(
        0.05,
        "--tolerance",
        "--max-drop",
        min=0,
        help="Largest allowed drop of accuracy or AUC below the card's test_accuracy/test_auc.",
    ),
    allow_no_card: bool = typer.Option(
        False, help="Pass without a readable model card, skipping its checks (the report says so)."
    ),
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
    reason) unless all of: a model card recording test_accuracy and test_auc (or
    --allow-no-card); every image classified by the card's model; a call for every patient;
    accuracy and AUC each at most --tolerance below the card's; the job finished within
    --timeout with the API answering. Metrics carry 95% intervals (bootstrap over patients).
    """
    try:
        samples = load_samples(data, manifest)
    except ValueError as exc:
        errors.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    limit = max_request_bytes or get_settings().client_max_request_bytes
    with api_errors(), make_client(api, api_key) as client, unfinished_fails(client.base_url):
        card = load_card(client, model_card)
        console.print(f"evaluating {len(samples)} images against {client.base_url}")
        options = GateOptions(tolerance=tolerance, allow_no_card=allow_no_card)
        result = run_evaluation(client, samples, card, limit, options, timeout)
    show(result, report)
    if not result.comparison.passed:
        raise typer.Exit(1)
