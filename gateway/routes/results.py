"""A job's results, as paginated JSON or one CSV file."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from core.csv_cells import csv_writer
from db.models import Item, Job, Result
from db.results import attribute_names, job_class_names, list_results
from gateway.deps import SessionOpener, SessionOpenerDep, TenantDep, read_tenant_job
from gateway.errors import responses
from gateway.pagination import CursorQuery, decode_position_cursor, encode_position_cursor
from gateway.schemas import Latency, ResultItem, ResultPage

router = APIRouter(prefix="/v1/jobs", tags=["results"])

CSV_PAGE = 1000


def to_item(item: Item, result: Result | None) -> ResultItem:
    """Combine an item and its result into the public shape."""
    return ResultItem(
        item_id=item.id,
        filename=item.filename,
        status=item.status,
        label=result.label if result else None,
        probability=result.probability if result else None,
        scores=result.scores if result else None,
        latency_ms=Latency(
            inference=result.inference_ms if result else None,
            queue=result.queue_ms if result else None,
            total=result.total_ms if result else None,
            batch=result.batch_ms if result else None,
        ),
        batch_size=result.batch_size if result else None,
        model_name=result.model_name if result else None,
        model_version=result.model_version if result else None,
        model_id=result.model_id if result else None,
        attempts=item.attempts,
        error=item.error,
        true_label=item.true_label,
        patient_id=item.patient_id,
        slide_id=item.slide_id,
        attributes=item.attributes,
        warnings=(result.warnings or []) if result else [],
    )


def csv_header(classes: list[str], attributes: list[str]) -> list[str]:
    """Return the CSV's columns: scores in the model's class order, then manifest extras."""
    header = ["item_id", "filename", "status", "label", "probability"]
    header += [f"score_{name}" for name in classes]
    header += ["inference_ms", "queue_ms", "total_ms", "batch_ms", "batch_size"]
    header += ["model_name", "model_version"]
    header += ["attempts", "error", "warnings", "true_label", "patient_id", "slide_id"]
    # A manifest column named like a fixed one keeps both, its own prefixed.
    return header + [f"attribute_{name}" if name in header else name for name in attributes]


def csv_columns(job_id: uuid.UUID, session: Session) -> tuple[list[str], list[str]]:
    """Return a job's class names (card order) and manifest extra columns."""
    return job_class_names(job_id, session=session), attribute_names(job_id, session=session)


def csv_rows(
    job_id: uuid.UUID, columns: tuple[list[str], list[str]], open_session: SessionOpener
) -> Iterator[str]:
    """Yield the CSV text of every item of a job, one page of rows at a time."""
    classes, attributes = columns
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(csv_header(classes, attributes))
    after: int | None = -1
    while after is not None:
        with open_session() as page_session:  # short sessions: a slow reader holds none
            page = list_results(job_id, session=page_session, after=after, limit=CSV_PAGE)
        for item, result in page.rows:
            row = to_item(item, result)
            scores = row.scores or {}
            writer.writerow(
                [row.item_id, row.filename, row.status, row.label, row.probability]
                + [scores.get(name) for name in classes]
                + [row.latency_ms.inference, row.latency_ms.queue, row.latency_ms.total]
                + [row.latency_ms.batch, row.batch_size]
                + [row.model_name, row.model_version, row.attempts, row.error]
                + ["; ".join(row.warnings)]
                + [row.true_label, row.patient_id, row.slide_id]
                + [(row.attributes or {}).get(name) for name in attributes]
            )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        after = page.next_cursor


def read_page(job: Job, session: Session, cursor: str | None, limit: int) -> ResultPage:
    """Read one page of a job's results (400 for a bad cursor)."""
    page = list_results(job.id, session=session, after=decode_position_cursor(cursor), limit=limit)
    return ResultPage(
        items=[to_item(i, r) for i, r in page.rows],
        next_cursor=encode_position_cursor(page.next_cursor),
    )


def read_csv_columns(job: Job, session: Session, cursor: str | None) -> tuple[list[str], list[str]]:
    """Check the cursor, which CSV ignores (a bad one is a 400 for CSV too), and read the
    CSV's columns."""
    decode_position_cursor(cursor)
    return csv_columns(job.id, session)


@router.get(
    "/{job_id}/results",
    response_model=ResultPage,
    responses={**responses(400, 401, 404, 422, 429), 200: {"content": {"text/csv": {}}}},
)
async def read_results_route(
    job_id: uuid.UUID,
    tenant: TenantDep,
    open_session: SessionOpenerDep,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    format: Literal["json", "csv"] = "json",
) -> ResultPage | Response:
    """Return a job's items in submission order with their labels and latencies.

    JSON is paginated (follow `next_cursor`); `format=csv` returns every item in one file:
    score columns in the model card's class order, then the manifest's extra columns
    (`attributes`), one column each. Text a spreadsheet would run as a formula (starting
    `=`, `+`, `-`, `@`) gets a leading `'`. The JSON has the raw values. `warnings` flags
    an image unlike the model's training images (CSV: joined by `; `).
    """
    # The job is checked first (404), then the cursor (400).
    if format == "csv":
        columns = await read_tenant_job(
            open_session,
            job_id,
            tenant,
            lambda job, session: read_csv_columns(job, session, cursor),
        )
        return StreamingResponse(
            csv_rows(job_id, columns, open_session),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{job_id}.csv"'},
        )
    return await read_tenant_job(
        open_session, job_id, tenant, lambda job, session: read_page(job, session, cursor, limit)
    )
