"""The failed-lookup throttle: a token bucket per client address."""

from __future__ import annotations

import pytest

from gateway import throttle
from gateway.throttle import FailureThrottle


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(throttle.time, "monotonic", fake)
    return fake


def test_a_burst_is_allowed_then_one_lookup_per_refill(clock: Clock) -> None:
    failures = FailureThrottle(per_minute=6)  # a token every 10 s
    for spent in range(6):
        assert failures.retry_after("a") is None
        assert failures.spend("a") is (spent == 5)  # says so once, when it runs out
    assert failures.retry_after("a") == 10
    clock.now += 4
    assert failures.retry_after("a") == 6
    clock.now += 6
    assert failures.retry_after("a") is None
    assert failures.retry_after("b") is None  # each address has its own bucket


def test_the_bucket_refills_to_its_capacity_only(clock: Clock) -> None:
    failures = FailureThrottle(per_minute=2)
    failures.spend("a")
    clock.now += 3600
    failures.spend("a")
    failures.spend("a")
    assert failures.retry_after("a") == 30


def test_zero_turns_it_off_and_memory_is_bounded(clock: Clock) -> None:
    off = FailureThrottle(per_minute=0)
    for _ in range(100):
        assert not off.spend("a")
    assert off.retry_after("a") is None
    bounded = FailureThrottle(per_minute=1, max_clients=10)
    for address in range(25):
        bounded.spend(str(address))
    assert len(bounded._buckets) <= 10
