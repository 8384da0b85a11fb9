"""A typed client for the inferq HTTP API, with retries on 429/503 and lost connections."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from datetime import datetime
from typing import Any

import httpx

from client.files import UploadPart
from client.models import (
    JobAccepted,
    JobList,
    JobPublic,
    JobSummary,
    Prediction,
    PredictionPending,
    ResultItem,
)
from client.retry import RETRY_STATUSES, RetryableStatusError, retrying
from core.model_card import ModelCard

JOBS_PER_LISTING = 100  # the most IDs GET /v1/jobs takes in one request
LONG_POLL_SECONDS = 10.0  # how long one listing may wait on the gateway for its jobs

FilesFactory = Callable[[ExitStack], list[tuple[str, Any]]]


class ApiError(Exception):
    """The API refused a request (its `detail` says why) or could not be reached."""

    def __init__(self, status_code: int | None, detail: str) -> None:
        super().__init__(f"HTTP {status_code}: {detail}" if status_code else detail)
        self.status_code = status_code
        self.detail = detail


def error_detail(response: httpx.Response) -> str:
    """Return the `detail` of an error answer, or its text."""
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    return str(detail) if detail is not None else response.text[:500]


def multipart(parts: Sequence[UploadPart], manifest: bytes | None) -> FilesFactory:
    """Return a factory opening the parts afresh for each attempt of a request."""

    def build(stack: ExitStack) -> list[tuple[str, Any]]:
        files: list[tuple[str, Any]] = [
            ("files", (part.name, stack.enter_context(part.path.open("rb")))) for part in parts
        ]
        if manifest is not None:
            files.append(("manifest", ("manifest.csv", manifest, "text/csv")))
        return files

    return build


class InferqClient:
    """The whole API: submit, add and close, status, results, summary, metrics, model."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        attempts: int = 6,
        max_wait: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )
        self._retrying = retrying(attempts, max_wait)

    def __enter__(self) -> InferqClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _send(
        self, method: str, path: str, files: FilesFactory | None, **kw: Any
    ) -> httpx.Response:
        with ExitStack() as stack:
            response = self._http.request(method, path, files=files(stack) if files else None, **kw)
        if response.status_code in RETRY_STATUSES:
            raise RetryableStatusError(response)
        if response.status_code >= 400:
            raise ApiError(response.status_code, error_detail(response))
        return response

    def request(
        self, method: str, path: str, *, files: FilesFactory | None = None, **kw: Any
    ) -> httpx.Response:
        """Send a request, retrying transient failures; raise ApiError on a refusal."""
        try:
            return self._retrying.copy()(self._send, method, path, files, **kw)
        except RetryableStatusError as exc:
            raise ApiError(exc.response.status_code, error_detail(exc.response)) from exc
        except httpx.TransportError as exc:
            raise ApiError(None, f"cannot reach {self.base_url}: {exc}") from exc

    def create_job(
        self,
        parts: Sequence[UploadPart],
        *,
        manifest: bytes | None = None,
        close: bool = True,
        idempotency_key: str | None = None,
        callback_url: str | None = None,
        priority: str | None = None,
    ) -> JobAccepted:
        """Create a job from files (open for more when `close` is false); a `callback_url`
        gets a signed webhook when the job is done; `priority` is interactive, normal or
        bulk (default: the tenant's, else by the job's size)."""
        data = {"close": "true" if close else "false"}
        if callback_url:
            data["callback_url"] = callback_url
        if priority:
            data["priority"] = priority
        response = self.request(
            "POST",
            "/v1/jobs",
            files=multipart(parts, manifest),
            data=data,
            headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
        )
        return JobAccepted.model_validate(response.json())

    def add_items(
        self,
        job_id: str,
        parts: Sequence[UploadPart],
        *,
        manifest: bytes | None = None,
        idempotency_key: str | None = None,
    ) -> JobAccepted:
        """Add files (and manifest rows) to an open job."""
        response = self.request(
            "POST",
            f"/v1/jobs/{job_id}/items",
            files=multipart(parts, manifest),
            headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
        )
        return JobAccepted.model_validate(response.json())

    def close_job(self, job_id: str) -> JobPublic:
        """Seal an open job."""
        return JobPublic.model_validate(self.request("POST", f"/v1/jobs/{job_id}/close").json())

    def get_job(self, job_id: str) -> JobPublic:
        """Return a job's status and counts."""
        return JobPublic.model_validate(self.request("GET", f"/v1/jobs/{job_id}").json())

    def get_jobs(
        self, job_ids: Sequence[str], *, wait_seconds: float = 0.0
    ) -> dict[str, JobPublic]:
        """Return many jobs' status and counts, asking for up to 100 a request.

        Jobs the gateway does not know (or another tenant's) are left out. With
        `wait_seconds`, each request is a long poll: the gateway answers when one of its
        jobs is final (at once if one is already) or the time is up.
        """
        found: dict[str, JobPublic] = {}
        for start in range(0, len(job_ids), JOBS_PER_LISTING):
            params: dict[str, str | float] = {
                "ids": ",".join(job_ids[start : start + JOBS_PER_LISTING])
            }
            if wait_seconds > 0:
                params["wait_seconds"] = round(wait_seconds, 3)
            page = JobList.model_validate(self.request("GET", "/v1/jobs", params=params).json())
            found.update((job.job_id, job) for job in page.jobs)
        return found

    def iter_jobs(
        self,
        page_size: int = JOBS_PER_LISTING,
        *,
        statuses: Iterable[str] = (),
        created_after: datetime | None = None,
        created_before: datetime | None = None,
    ) -> Iterator[JobPublic]:
        """Yield the tenant's jobs, newest first, following the pages; filtered by the API."""
        cursor: str | None = None
        filters: dict[str, Any] = {"status": ",".join(statuses) or None}
        for name, moment in (("created_after", created_after), ("created_before", created_before)):
            filters[name] = moment.isoformat() if moment else None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            params.update((name, value) for name, value in filters.items() if value)
            if cursor is not None:
                params["cursor"] = cursor
            page = JobList.model_validate(self.request("GET", "/v1/jobs", params=params).json())
            yield from page.jobs
            cursor = page.next_cursor
            if cursor is None:
                return

    def cancel_job(self, job_id: str) -> JobPublic:
        """Cancel a job's images that have not started."""
        return JobPublic.model_validate(self.request("DELETE", f"/v1/jobs/{job_id}").json())

    def iter_results(self, job_id: str, page_size: int = 1000) -> Iterator[ResultItem]:
        """Yield a job's items in submission order, following the pages."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            if cursor is not None:
                params["cursor"] = cursor
            page = self.request("GET", f"/v1/jobs/{job_id}/results", params=params).json()
            yield from (ResultItem.model_validate(item) for item in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return

    def results_csv(self, job_id: str) -> str:
        """Return every item of a job as CSV text."""
        params = {"format": "csv"}
        return self.request("GET", f"/v1/jobs/{job_id}/results", params=params).text

    def summary(self, job_id: str, **rule: float | str | None) -> JobSummary:
        """Return the per-patient summary (rule: threshold, positive_class, min_tiles, ...)."""
        params = {key: value for key, value in rule.items() if value is not None}
        response = self.request("GET", f"/v1/jobs/{job_id}/summary", params=params)
        return JobSummary.model_validate(response.json())

    def summary_csv(self, job_id: str, **rule: float | str | None) -> str:
        """Return the per-patient summary as CSV text."""
        params = {key: value for key, value in rule.items() if value is not None}
        params["format"] = "csv"
        return self.request("GET", f"/v1/jobs/{job_id}/summary", params=params).text

    def metrics(self) -> dict[str, Any]:
        """Return the service-wide aggregates."""
        metrics: dict[str, Any] = self.request("GET", "/v1/metrics").json()
        return metrics

    def metrics_history(self, minutes: int = 60, step_seconds: int = 60) -> dict[str, Any]:
        """Return the tenant's results, throughput and latency in time buckets."""
        params = {"minutes": minutes, "step_seconds": step_seconds}
        history: dict[str, Any] = self.request("GET", "/v1/metrics/history", params=params).json()
        return history

    def tenant(self) -> dict[str, Any]:
        """Return the key's tenant and the upload limits of one request."""
        found: dict[str, Any] = self.request("GET", "/v1/tenant").json()
        return found

    def thumbnail(self, job_id: str, item_id: str, size: int = 128) -> bytes:
        """Return a JPEG preview of an item's image, its longer side at most `size` pixels."""
        path = f"/v1/jobs/{job_id}/items/{item_id}/thumbnail"
        return self.request("GET", path, params={"size": size}).content

    def model_card(self) -> ModelCard | None:
        """Return the served model's card, or None when the gateway cannot read it."""
        try:
            return ModelCard.model_validate(self.request("GET", "/v1/model").json())
        except ApiError as exc:
            if exc.status_code == 404:
                return None
            raise

    def predict(self, part: UploadPart) -> Prediction | PredictionPending:
        """Classify one image, waiting up to the server's timeout (else a job to poll)."""

        def build(stack: ExitStack) -> list[tuple[str, Any]]:
            return [("file", (part.name, stack.enter_context(part.path.open("rb"))))]

        response = self.request("POST", "/predict", files=build)
        if response.status_code == 202:
            return PredictionPending.model_validate(response.json())
        return Prediction.model_validate(response.json())

    def wait_for_job(
        self,
        job_id: str,
        *,
        poll_seconds: float = 0.5,
        timeout: float | None = None,
        on_progress: Callable[[JobPublic], None] | None = None,
    ) -> JobPublic:
        """Wait until a job's status is final; raise TimeoutError after `timeout` s.

        Without `on_progress` it long-polls (calls of up to LONG_POLL_SECONDS that the
        gateway answers when the job is final); with it, it reads the job every
        `poll_seconds` so that progress shows as it happens.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            asked = time.monotonic()
            if on_progress is None:
                left = LONG_POLL_SECONDS if deadline is None else deadline - asked
                wait = max(0.0, min(LONG_POLL_SECONDS, left))
                found = self.get_jobs([job_id], wait_seconds=wait).get(job_id)
                if found is None:
                    raise ApiError(404, f"job {job_id} not found")
                job = found
            else:
                job = self.get_job(job_id)
                on_progress(job)
            if job.done:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} not finished after {timeout} s: {job.status}")
            time.sleep(max(0.0, poll_seconds - (time.monotonic() - asked)))

    def wait_for_jobs(
        self, job_ids: Sequence[str], *, poll_seconds: float = 0.5, timeout: float | None = None
    ) -> dict[str, JobPublic]:
        """Wait for many jobs, 100 a request, until every one is final (TimeoutError after
        `timeout` s); a job the gateway does not know raises ApiError 404.

        Each request is a long poll of up to LONG_POLL_SECONDS, so a finished job is seen
        as soon as the gateway hears of it; `poll_seconds` only spaces the requests when
        the gateway answers sooner without every job final (it had no place to wait).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        done: dict[str, JobPublic] = {}
        while True:
            pending = [job_id for job_id in job_ids if job_id not in done]
            left = LONG_POLL_SECONDS if deadline is None else deadline - time.monotonic()
            asked = time.monotonic()
            found = self.get_jobs(pending, wait_seconds=max(0.0, min(LONG_POLL_SECONDS, left)))
            missing = [job_id for job_id in pending if job_id not in found]
            if missing:
                raise ApiError(404, f"job {missing[0]} not found")
            done.update((job_id, job) for job_id, job in found.items() if job.done)
            if len(done) == len(job_ids):
                return done
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(job_ids) - len(done)} jobs not finished after {timeout} s"
                )
            time.sleep(max(0.0, poll_seconds - (time.monotonic() - asked)))
