"""GET /v1/jobs/{id}/summary: per-patient (and per-slide) counts, probabilities and calls."""

from __future__ import annotations

import io
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy.orm import Session

from core.csv_cells import csv_writer
from core.job_status import FINAL_STATUSES
from core.patient_call import CallRule, call_patient, coverage
from db.jobs import read_job_state
from db.models import Job
from db.summary import GroupStats, summarize_job
from gateway.call_rules import JobRules, RuleRequest, resolve_rules
from gateway.deps import JobDep, SessionDep, SettingsDep
from gateway.errors import responses
from gateway.summary_schemas import GroupSummary, JobSummary, SummaryRule

router = APIRouter(prefix="/v1/jobs", tags=["results"])

RULE = (
    "A patient (or slide) is called {positive} when at least {tiles} of its tiles score >= "
    "{strong:g} on {positive}, or at least {fraction:g} of its classified tiles (and at "
    "least one) score >= {threshold:g}; otherwise it gets the most frequent other label "
    "(ties: higher mean probability). Sensitive on purpose: missing a malignant patient "
    "costs more than a second look."
)
MAJORITY = "With no positive class, each patient gets its most frequent label (ties: higher mean)."
COVERAGE = (
    " A patient with fewer than {coverage:g} of its images classified is incomplete and gets "
    "no call; images without a patient ID are unassigned, listed and never called."
)


def describe(rule: CallRule) -> SummaryRule:
    """Return the rule with its sentence."""
    text = MAJORITY
    if rule.positive_class is not None:
        text = RULE.format(
            positive=rule.positive_class,
            tiles=rule.min_tiles,
            strong=rule.tile_threshold,
            fraction=rule.min_fraction,
            threshold=rule.threshold,
        )
    return SummaryRule(
        threshold=rule.threshold,
        positive_class=rule.positive_class,
        min_tiles=rule.min_tiles,
        tile_threshold=rule.tile_threshold,
        min_fraction=rule.min_fraction,
        min_coverage=rule.min_coverage,
        description=text + COVERAGE.format(coverage=rule.min_coverage),
    )


def to_group(group: GroupStats, rule: CallRule, classes: list[str]) -> GroupSummary:
    """Return the public view of one group."""
    status, call = call_patient(group, rule, classes, assigned=group.patient_id is not None)
    counted = rule.positive_class is not None
    return GroupSummary(
        patient_id=group.patient_id,
        patient_spellings=sorted(group.spellings),
        slide_id=group.slide_id,
        status=status,
        coverage=round(coverage(group), 6),
        n_images=group.n_images,
        n_classified=group.n_classified,
        n_failed=group.n_failed,
        n_pending=group.n_images - group.n_classified - group.n_failed,
        label_counts={name: group.label_counts[name] for name in classes},
        mean_probability={name: round(group.mean(name), 6) for name in classes},
        max_probability={name: round(group.score_max.get(name, 0.0), 6) for name in classes},
        positive_tiles=group.positive_tiles if counted else None,
        strong_tiles=group.strong_tiles if counted else None,
        call=call,
        model_ids=sorted(group.model_ids, key=lambda model_id: (model_id is not None, model_id)),
        n_flagged=group.n_flagged,
    )


def summary_csv(summary: JobSummary) -> str:
    """Return the summary as CSV: one row per patient, then one per slide."""
    classes = summary.classes
    header = ["level", "patient_id", "patient_spellings", "slide_id", "status", "coverage"]
    header += ["n_images", "n_classified", "n_failed", "n_pending", "n_flagged"]
    header += ["positive_tiles", "strong_tiles", "call"] + [f"count_{name}" for name in classes]
    header += [f"mean_{name}" for name in classes] + [f"max_{name}" for name in classes]
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(header)
    for level, groups in (("patient", summary.patients), ("slide", summary.slides)):
        for g in groups:
            writer.writerow(
                [level, g.patient_id, "|".join(g.patient_spellings), g.slide_id, g.status]
                + [g.coverage, g.n_images, g.n_classified, g.n_failed, g.n_pending, g.n_flagged]
                + [g.positive_tiles, g.strong_tiles, g.call]
                + [g.label_counts[name] for name in classes]
                + [g.mean_probability[name] for name in classes]
                + [g.max_probability[name] for name in classes]
            )
    return buffer.getvalue()


def build_summary(
    job: Job, rules: JobRules, session: Session, *, check_positive: bool
) -> JobSummary:
    """Aggregate a job's results by patient and slide and apply the call rule."""
    rule = rules.rule
    data = summarize_job(job.id, rules.by_model, rule, session=session)
    if check_positive and data.classes and rule.positive_class not in data.classes:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"positive_class {rule.positive_class!r} is not one of {', '.join(data.classes)}",
        )
    state = read_job_state(job, session=session)
    return JobSummary(
        job_id=job.id,
        status=state.status,  # type: ignore[arg-type]
        final=state.status in FINAL_STATUSES,
        classes=data.classes,
        rule=describe(rule),
        models=rules.models,
        patients=[to_group(g, rule, data.classes) for g in data.patients],
        slides=[to_group(g, rule, data.classes) for g in data.slides],
        unassigned_files=data.unassigned_files,
        n_not_images=data.n_not_images,
        not_images=data.not_images,
    )


Fraction = Annotated[float | None, Query(ge=0, le=1)]


@router.get(
    "/{job_id}/summary",
    response_model=JobSummary,
    responses={**responses(401, 404, 422, 429), 200: {"content": {"text/csv": {}}}},
)
def read_summary_route(
    job: JobDep,
    session: SessionDep,
    settings: SettingsDep,
    format: Literal["json", "csv"] = "json",
    threshold: Fraction = None,
    positive_class: str | None = None,
    min_tiles: Annotated[int | None, Query(ge=1)] = None,
    tile_threshold: Fraction = None,
    min_fraction: Fraction = None,
    min_coverage: Fraction = None,
) -> JobSummary | Response:
    """Summarise a job per patient (and per slide) from its manifest and results.

    Patient IDs are compared normalised (trimmed, case-folded, Unicode NFC): `CASE01` and
    `case01 ` are one patient, shown as `case01` with both spellings. Each patient has its
    counts per predicted label, mean and max probability of each class, its `coverage`
    (classified / submitted images), a `status` and a call:

    - `called`: coverage >= `min_coverage` (card default 0.9). The call is the positive
      class when at least `min_tiles` tiles (default 2) score >= `tile_threshold` (0.9)
      on it, OR at least `min_fraction` (0.05) of the classified tiles, and at least one,
      score >= `threshold` (the card's); otherwise the most frequent other label. The rule
      is sensitive on purpose: a small focus of tumour covers few tiles, and a missed
      malignant patient costs more than a second look at a benign one.
    - `incomplete`: too many images failed or are pending; no call.
    - `unassigned`: the images without a patient ID (`patient_id` null, also listed in
      `unassigned_files`); never called as a group.

    Files refused at upload as not images (`not_images`) never form a patient. Every
    parameter defaults to the card (`patient_rule`) of the model that produced each
    result: `models` lists them and each patient's `model_ids` says whose results its call
    counts (after a model switch each tile counts by its own model's thresholds; calls use
    the newest model's rule). `final` stays false while the job is open or has pending
    images. In `format=csv`, text a spreadsheet would run as a formula gets a leading `'`.
    """
    request = RuleRequest(
        threshold, positive_class, min_fraction, min_tiles, tile_threshold, min_coverage
    )
    rules = resolve_rules(
        job.id, request, session=session, stale_seconds=settings.worker_stale_seconds
    )
    summary = build_summary(job, rules, session, check_positive=positive_class is not None)
    if format == "csv":
        headers = {"Content-Disposition": f'attachment; filename="{job.id}-summary.csv"'}
        return Response(summary_csv(summary), media_type="text/csv", headers=headers)
    return summary
