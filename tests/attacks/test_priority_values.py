"""Priority values that are not one of the three levels: a 422 naming the accepted ones
before anything is stored (an empty field is no field: the default applies); a tenant
asking above its cap gets its cap, never an error."""

from __future__ import annotations

import pytest

from core.priority import Priority
from db.api_keys import create_key
from db.session import get_session
from db.tenant_priorities import TenantPriorities, set_tenant_priorities
from tests.attacks.conftest import HEALTHZ_LIMIT_SECONDS, Target
from tests.attacks.stored import count_rows
from tests.integration.conftest import tile_bytes

VALUES = [
    "urgent",
    "0",
    "-1",
    "interactive ",  # accepted: surrounding spaces are ignored (checked below)
    "interactive\x00",
    "INTERACTIVE;DROP TABLE items",
    "x" * 100_000,
    "bulk\r\nX-Injected: 1",
    "".join(chr(ord(c) + 0xFEE0) for c in "interactive"),  # full-width letters
]
REFUSED = [value for value in VALUES if value != "interactive "]


@pytest.mark.parametrize("value", REFUSED, ids=[repr(value[:20]) for value in REFUSED])
def test_a_bad_priority_is_a_422_and_stores_nothing(target: Target, value: str) -> None:
    blobs, rows = target.blob_count(), count_rows(target.database_url)
    with target.client() as client:
        files = [("files", ("a.png", tile_bytes(800), "image/png"))]
        response = client.post("/v1/jobs", files=files, data={"priority": value})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "interactive, normal, bulk" in detail and len(detail) < 400
    assert target.blob_count() == blobs and count_rows(target.database_url) == rows
    assert target.healthz_seconds() < HEALTHZ_LIMIT_SECONDS


def test_asking_above_the_cap_gets_the_cap(target: Target) -> None:
    # A tenant this gateway has not served: it trusts the rules it read for a few seconds
    # (INFERQ_RULES_CACHE_SECONDS), and this suite's other tests may have used any other.
    with get_session(target.database_url) as session:
        key = create_key("capped", session=session).plaintext
        set_tenant_priorities("capped", TenantPriorities(cap=Priority.BULK), session=session)
    with target.client(key=key) as client:
        files = [("files", ("a.png", tile_bytes(801), "image/png"))]
        answer = client.post("/v1/jobs", files=files, data={"priority": "interactive "})
        assert answer.status_code == 202, answer.text
        assert answer.json()["priority"] == "bulk"
        predicted = client.post("/predict", files={"file": ("p.png", tile_bytes(802))})
        assert predicted.status_code == 202, predicted.text  # no worker here
        job = client.get(predicted.json()["links"]["self"]).json()
    assert job["priority"] == "bulk"
