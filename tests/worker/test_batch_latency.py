"""An item's inference latency is its share of the batch; the batch keeps its own time."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db.models import Result
from db.session import get_session
from tests.worker.test_inference import loaded, runtime, submit_singles, tile  # noqa: F401
from worker.engine import BatchEngine
from worker.runtime import Runtime


def test_inference_ms_is_the_items_share_of_its_batch(runtime: Runtime) -> None:  # noqa: F811
    tasks = submit_singles(runtime, [tile(40 + i) for i in range(5)])
    assert BatchEngine(runtime).serve(tasks[0]) == 5  # one batch across five jobs
    with get_session(runtime.settings.resolved_database_url) as session:
        results = session.scalars(select(Result)).all()
    assert len(results) == 5 and {r.batch_size for r in results} == {5}
    assert len({r.batch_ms for r in results}) == 1
    for result in results:
        assert result.batch_ms is not None and result.batch_ms > 0
        assert result.inference_ms == pytest.approx(result.batch_ms / 5)
