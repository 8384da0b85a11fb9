"""API keys and quota counts on both database backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from db.api_keys import create_key, find_tenant, hash_key, list_keys, revoke_key
from db.jobs import NewItem, cancel_job, close_job, create_job
from db.models import ApiKey, Item, ItemStatus, RateWindow
from db.quotas import count_active_jobs, count_queued, count_request
from db.session import get_session


def test_keys_are_random_stored_hashed_and_revocable(database_url: str) -> None:
    with get_session(database_url) as session:
        first = create_key("lab", session=session)
        second = create_key("lab", session=session)
    assert first.plaintext != second.plaintext and first.plaintext.startswith("iq_")
    assert len(first.plaintext) - 3 >= 128 / 6  # base64url: 6 bits a character
    with get_session(database_url) as session:
        stored = session.scalars(select(ApiKey.key_hash)).all()
        assert first.plaintext not in stored and hash_key(first.plaintext) in stored
        assert find_tenant(first.plaintext, session=session) == "lab"
        assert find_tenant(first.plaintext + "x", session=session) is None
        assert [key.prefix for key in list_keys(session=session, tenant="lab")] == sorted(
            [first.prefix, second.prefix], key=[first.prefix, second.prefix].index
        )
        assert revoke_key(first.prefix, session=session)
        assert not revoke_key(first.prefix, session=session)  # already revoked
    with get_session(database_url) as session:
        assert find_tenant(first.plaintext, session=session) is None
        assert find_tenant(second.plaintext, session=session) == "lab"


def test_requests_are_counted_per_tenant_and_minute(database_url: str) -> None:
    start = datetime(2026, 12, 1, 12, 0, 50, tzinfo=UTC)
    with get_session(database_url) as session:
        counts = [count_request("lab", session=session, now=start) for _ in range(3)]
        assert [c.requests for c in counts] == [1, 2, 3] and counts[0].seconds_left == 10
        assert count_request("other", session=session, now=start).requests == 1
        later = count_request("lab", session=session, now=start + timedelta(seconds=15))
        assert later.requests == 1 and later.seconds_left == 55
        windows = session.scalars(select(RateWindow.window).where(RateWindow.tenant == "lab"))
        assert len(list(windows)) == 1  # the old window is gone


def test_active_jobs_and_queue_depth(database_url: str) -> None:
    image = NewItem("a.png", "a" * 64, 1)
    with get_session(database_url) as session:
        queued, _ = create_job([image, image], session=session, tenant="lab")
        opened, _ = create_job([], session=session, tenant="lab", closed=False)
        create_job([NewItem("b.png", "", 1, error="not an image")], session=session, tenant="lab")
        create_job([image], session=session, tenant="other")
        assert count_active_jobs("lab", session=session) == 2
        assert count_queued(session=session) == 3
        close_job(opened)
        cancel_job(queued, session=session)
        session.flush()
        assert count_active_jobs("lab", session=session) == 0
        assert count_queued(session=session) == 1
        running, (item_id,) = create_job([image], session=session, tenant="lab")
        session.execute(update(Item).where(Item.id == item_id).values(status=ItemStatus.RUNNING))
        assert running.closed_at is not None
        assert count_active_jobs("lab", session=session) == 1  # closed, but still running
