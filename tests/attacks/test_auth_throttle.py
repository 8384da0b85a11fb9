"""A flood of made-up keys from one address is throttled before the database; valid keys
and other addresses are not."""

from __future__ import annotations

import secrets
import time

import httpx

from core.settings import Settings
from tests.attacks.conftest import Target

DEFAULTS = Settings(_env_file=None)  # type: ignore[call-arg]
ATTACKER = "127.0.0.2"  # the loopback network is ours: one address for this test alone


def from_attacker(target: Target) -> httpx.Client:
    """Return a client whose connections come from the attacker's address."""
    transport = httpx.HTTPTransport(local_address=ATTACKER)
    return httpx.Client(base_url=target.url, transport=transport, timeout=30)


def forge() -> dict[str, str]:
    """Return an Authorization header with a key nobody made."""
    return {"Authorization": f"Bearer iq_{secrets.token_urlsafe(32)}"}


def test_unknown_keys_are_throttled_per_address_and_valid_keys_still_served(
    target: Target,
) -> None:
    limit = DEFAULTS.auth_failures_per_minute
    statuses: list[int] = []
    with from_attacker(target) as attacker:
        started = time.perf_counter()
        for _ in range(limit + 40):
            answer = attacker.get("/v1/jobs", headers=forge())
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                retry_after = answer.headers["retry-after"]
                detail = answer.json()["detail"]
        elapsed = time.perf_counter() - started
        assert set(statuses) == {401, 429}
        refill = limit / 60 * elapsed
        assert statuses.count(401) <= limit + refill + 1  # each a database lookup
        assert statuses[-1] == 429
        assert int(retry_after) >= 1
        assert detail == "too many requests with unknown API keys from this address"

        valid = {"Authorization": f"Bearer {target.keys['lab']}"}
        assert attacker.get("/v1/jobs", headers=valid).status_code == 200
        assert attacker.get("/v1/jobs", headers=forge()).status_code == 429
        time.sleep(DEFAULTS.key_cache_seconds + 0.5)  # past the key cache: a real lookup
        drained = [attacker.get("/v1/jobs", headers=forge()).status_code for _ in range(20)]
        assert drained[-1] == 429
        assert attacker.get("/v1/jobs", headers=valid).status_code == 200

    elsewhere = httpx.get(
        f"{target.url}/v1/jobs", headers={"Authorization": "Bearer iq_unknown"}, timeout=30
    )
    assert elsewhere.status_code == 401  # another address is not throttled
    assert target.healthz_seconds() < 1.0
