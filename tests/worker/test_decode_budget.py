"""worker.decode_budget: decode threads never hold more than the budget together."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from worker.decode_budget import DecodeBudget


def test_a_decode_waits_until_its_share_is_free() -> None:
    budget = DecodeBudget(100)
    entered = threading.Event()

    def decode() -> int:
        with budget.hold(30):
            entered.set()
            return budget.held

    with ThreadPoolExecutor(1) as pool:
        with budget.hold(80):
            waiting = pool.submit(decode)
            assert not entered.wait(0.2), "30 bytes more than the budget were let in"
        assert waiting.result(timeout=5) == 30
    assert budget.held == 0


def test_an_image_bigger_than_the_budget_decodes_alone() -> None:
    budget = DecodeBudget(100)
    with budget.hold(10_000):
        assert budget.held == 100  # it takes the whole budget, so nothing runs beside it
    assert budget.held == 0


def test_many_threads_never_hold_more_than_the_budget() -> None:
    budget = DecodeBudget(100)
    peak = 0
    lock = threading.Lock()

    def decode(nbytes: int) -> None:
        nonlocal peak
        with budget.hold(nbytes):
            with lock:
                peak = max(peak, budget.held)
            threading.Event().wait(0.001)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(decode, [30, 70, 45, 10, 100, 55, 20, 65] * 10))
    assert 0 < peak <= 100
    assert budget.held == 0
