"""Results bucketed over time for the operations chart, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from db.metrics_history import bucket_start, results_history
from db.models import Result, utc_now
from db.session import get_session
from tests.db.test_lifecycle import claim, make_job, succeed


def test_bucket_starts_on_whole_steps() -> None:
    now = datetime(2026, 12, 2, 11, 37, 42, tzinfo=UTC)
    assert bucket_start(now, 60, 60) == datetime(2026, 12, 2, 10, 38, tzinfo=UTC)
    assert bucket_start(now, 300, 1) == datetime(2026, 12, 2, 11, 35, tzinfo=UTC)


def test_results_land_in_their_buckets_with_mean_and_p95(database_url: str) -> None:
    _, ids = make_job(database_url, 21)
    succeed(database_url, claim(database_url, ids))
    now = utc_now()
    earlier = now - timedelta(minutes=10)
    with get_session(database_url) as session:
        for index, item_id in enumerate(ids):  # 20 results 10 minutes ago, 1 now
            when, total = (earlier, float(index + 1)) if index < 20 else (now, 500.0)
            session.execute(
                update(Result)
                .where(Result.item_id == item_id)
                .values(created_at=when, total_ms=total, inference_ms=2.0)
            )
        session.execute(  # an hour and more ago: outside the window
            update(Result)
            .where(Result.item_id == ids[0])
            .values(created_at=now - timedelta(hours=2))
        )
    with get_session(database_url) as session:
        history = results_history(session=session, tenant="default", minutes=60, step_seconds=60)
        others = results_history(session=session, tenant="other", minutes=60, step_seconds=60)
    assert len(history) == 60 and history[-1]["start"] <= now < history[-1]["start"] + timedelta(
        minutes=1
    )
    assert [b["start"] for b in history] == sorted(b["start"] for b in history)
    filled = [bucket for bucket in history if bucket["results"]]
    assert [bucket["results"] for bucket in filled] == [19, 1]
    past = filled[0]
    assert past["total_ms_mean"] == 11.0  # 2..20
    assert 19.0 <= past["total_ms_p95"] <= 20.0  # interpolated or nearest rank
    assert past["inference_ms_mean"] == 2.0 and past["throughput_per_second"] == round(19 / 60, 3)
    assert history[0]["total_ms_mean"] is None and history[0]["results"] == 0
    assert sum(bucket["results"] for bucket in others) == 0
