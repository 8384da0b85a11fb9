"""API keys and quota counts on both database backends."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update

from db.api_keys import create_key, find_tenant, hash_key, list_keys, revoke_key
from db.jobs import NewItem, cancel_job, create_job
from db.models import ApiKey, Item, ItemStatus, RateWindow
from db.quotas import UnfinishedWork, add_requests, count_unfinished
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


def test_request_counts_are_added_per_tenant_and_minute(database_url: str) -> None:
    window = int(datetime(2026, 12, 1, 12, 0, 50, tzinfo=UTC).timestamp() // 60)
    with get_session(database_url) as session:
        assert add_requests({"lab": 3, "other": 1}, window, session=session) == {
            "lab": 3,
            "other": 1,
        }
        assert add_requests({"lab": 2, "other": 0}, window, session=session) == {
            "lab": 5,  # another gateway's flush adds to the same row
            "other": 1,
        }
        assert add_requests({"lab": 1}, window + 2, session=session) == {"lab": 1}
        windows = session.scalars(select(RateWindow.window).where(RateWindow.tenant == "lab"))
        assert list(windows) == [window + 2]  # windows before the last one are gone


def test_unfinished_items_per_tenant_and_queue_depth(database_url: str) -> None:
    image = NewItem("a.png", "a" * 64, 1)
    with get_session(database_url) as session:
        queued, _ = create_job([image, image], session=session, tenant="lab")
        create_job([], session=session, tenant="lab", closed=False)
        create_job([NewItem("b.png", "", 1, error="not an image")], session=session, tenant="lab")
        create_job([image], session=session, tenant="other")
        assert count_unfinished(session=session) == UnfinishedWork({"lab": 2, "other": 1}, 3)
        cancel_job(queued, session=session)
        session.flush()
        assert count_unfinished(session=session) == UnfinishedWork({"other": 1}, 1)
        _, (item_id,) = create_job([image], session=session, tenant="lab")
        session.execute(update(Item).where(Item.id == item_id).values(status=ItemStatus.RUNNING))
        assert count_unfinished(session=session) == UnfinishedWork({"lab": 1, "other": 1}, 1)
