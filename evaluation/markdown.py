"""The readable form of an evaluation report: Markdown beside the JSON, for people and CI."""

from __future__ import annotations

from evaluation.report import EvaluationReport, Interval


def figure(value: float | None, interval: Interval = None) -> str:
    """Return a metric with three decimals and its 95% interval, or n/a."""
    if value is None:
        return "n/a"
    return f"{value:.3f}" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")


def metric_rows(report: EvaluationReport) -> list[tuple[str, str, str]]:
    """Return (metric, deployed with its interval, recorded at training) rows."""
    comparison, bounds = report.comparison, report.intervals
    return [
        ("tile accuracy", figure(report.accuracy, bounds.accuracy),
         figure(comparison.recorded_accuracy)),
        ("tile ROC AUC", figure(report.roc_auc, bounds.roc_auc), figure(comparison.recorded_auc)),
        ("patient accuracy", figure(report.per_patient.accuracy, bounds.patient_accuracy), ""),
        (f"precision / recall / F1 ({report.positive_class or 'macro'})",
         " / ".join(figure(v) for v in (report.precision, report.recall, report.f1)), ""),
    ]  # fmt: skip


def render_markdown(report: EvaluationReport) -> str:
    """Return the report as Markdown: verdict, metrics with intervals, counts, failures."""
    comparison = report.comparison
    lines = [
        f"# Evaluation of job {report.job_id}",
        "",
        f"**{'PASS' if comparison.passed else 'FAIL'}**: {comparison.reason}",
        "",
        f"- API: {report.api_url}; model card: {comparison.card_model or 'none'}",
        f"- images: {report.n} sent, {report.n_classified} classified, {report.n_failed} failed",
        f"- patients: {report.n_patients}; tolerance: {comparison.tolerance:g}",
        "",
        "| metric | deployed [95% CI] | recorded |",
        "|---|---|---|",
        *(f"| {name} | {value} | {recorded} |" for name, value, recorded in metric_rows(report)),
        "",
        f"Intervals: bootstrap over patients, {report.intervals.resamples} resamples, "
        f"seed {report.intervals.seed}.",
    ]
    if comparison.card_checks_skipped:
        lines += ["", "No model card was read: the card's checks were skipped (--allow-no-card)."]
    if comparison.failures:
        lines += ["", "## Failures", "", *(f"- {failure}" for failure in comparison.failures)]
    return "\n".join(lines) + "\n"
