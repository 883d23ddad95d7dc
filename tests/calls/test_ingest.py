"""The ingest budget: a burst at once, then the configured multiple of real time."""

from __future__ import annotations

import pytest

from audiohook_server.calls.ingest import IngestBudget


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = Clock()
    budget = IngestBudget(rate=8.0, burst_s=30.0, clock=clock)
    assert all(budget.delay_for(0.5) == 0.0 for _ in range(60))  # 30 s at once
    assert budget.delay_for(0.5) == pytest.approx(0.5 / 8)  # then 8x real time
    clock.now += 1.0  # a second later, 8 s of audio are allowed again
    assert budget.delay_for(7.5) == pytest.approx(0.0, abs=1e-9)


def test_a_real_time_client_never_waits() -> None:
    clock = Clock()
    budget = IngestBudget(rate=8.0, burst_s=30.0, clock=clock)
    for _ in range(10_000):
        clock.now += 0.5
        assert budget.delay_for(0.5) == 0.0


def test_rate_zero_is_no_limit() -> None:
    assert IngestBudget(rate=0.0, burst_s=1.0).delay_for(3600.0) == 0.0
