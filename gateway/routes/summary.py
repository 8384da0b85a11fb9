"""GET /v1/jobs/{id}/summary: per-patient (and per-slide) counts, probabilities and calls."""

from __future__ import annotations

import io
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlalchemy.orm import Session

from core.csv_cells import csv_writer
from db.jobs import read_job_state
from db.models import Job
from db.summary import CallRule, GroupStats, call_group, summarize_job
from gateway.call_rules import JobRules, resolve_rules
from gateway.deps import JobDep, SessionDep, SettingsDep
from gateway.errors import responses
from gateway.schemas import GroupSummary, JobSummary, SummaryRule

router = APIRouter(prefix="/v1/jobs", tags=["results"])

FINAL = {"succeeded", "partially_failed", "failed", "cancelled"}
RULE = (
    "A patient (or slide) is called {positive} when at least {fraction:g} of its classified "
    "images (and at least one) score >= {threshold:g} on {positive}; otherwise it gets the "
    "most frequent other label. Ties go to the higher mean probability."
)
MAJORITY = "With no positive class, each patient gets its most frequent label (ties: higher mean)."


def describe(rule: CallRule) -> SummaryRule:
    """Return the rule with its sentence."""
    text = MAJORITY
    if rule.positive_class is not None:
        text = RULE.format(
            positive=rule.positive_class, fraction=rule.min_fraction, threshold=rule.threshold
        )
    return SummaryRule(
        threshold=rule.threshold,
        positive_class=rule.positive_class,
        min_fraction=rule.min_fraction,
        description=text,
    )


def to_group(group: GroupStats, rule: CallRule, classes: list[str]) -> GroupSummary:
    """Return the public view of one group."""
    return GroupSummary(
        patient_id=group.patient_id,
        slide_id=group.slide_id,
        n_images=group.n_images,
        n_classified=group.n_classified,
        n_failed=group.n_failed,
        label_counts={name: group.label_counts[name] for name in classes},
        mean_probability={name: round(group.mean(name), 6) for name in classes},
        max_probability={name: round(group.score_max.get(name, 0.0), 6) for name in classes},
        positive_tiles=group.positive_tiles if rule.positive_class else None,
        call=call_group(group, rule, classes),
    )


def summary_csv(summary: JobSummary) -> str:
    """Return the summary as CSV: one row per patient, then one per slide."""
    classes = summary.classes
    header = ["level", "patient_id", "slide_id", "n_images", "n_classified", "n_failed"]
    header += ["positive_tiles", "call"] + [f"count_{name}" for name in classes]
    header += [f"mean_{name}" for name in classes] + [f"max_{name}" for name in classes]
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(header)
    for level, groups in (("patient", summary.patients), ("slide", summary.slides)):
        for g in groups:
            writer.writerow(
                [level, g.patient_id, g.slide_id, g.n_images, g.n_classified, g.n_failed]
                + [g.positive_tiles, g.call]
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
        final=state.status in FINAL,
        classes=data.classes,
        rule=describe(rule),
        models=rules.models,
        patients=[to_group(g, rule, data.classes) for g in data.patients],
        slides=[to_group(g, rule, data.classes) for g in data.slides],
    )


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
    threshold: Annotated[float | None, Query(ge=0, le=1)] = None,
    positive_class: str | None = None,
    min_fraction: Annotated[float, Query(ge=0, le=1)] = 0.1,
) -> JobSummary | Response:
    """Summarise a job per patient_id (and per slide_id) from its manifest and results.

    Each group has its number of images, counts per predicted label, mean and max
    probability of each class, and a call. The call rule: a patient is called the positive
    class when at least `min_fraction` (default 0.1) of its classified images, and at
    least one, score >= `threshold` on that class; otherwise it gets the most frequent
    other label. `threshold` and `positive_class` default to the card of the model that
    produced each result (`models` lists them; a job served across a model switch counts
    each result by its own model's rule, and calls use the newest); with no positive class
    the call is the most frequent label. Items without a patient_id form the group `null`.
    `final` stays false while the job is open or has pending images. In `format=csv`, text
    a spreadsheet would run as a formula gets a leading `'`.
    """
    rules = resolve_rules(
        job.id,
        threshold,
        positive_class,
        min_fraction,
        session=session,
        stale_seconds=settings.worker_stale_seconds,
    )
    summary = build_summary(job, rules, session, check_positive=positive_class is not None)
    if format == "csv":
        headers = {"Content-Disposition": f'attachment; filename="{job.id}-summary.csv"'}
        return Response(summary_csv(summary), media_type="text/csv", headers=headers)
    return summary
