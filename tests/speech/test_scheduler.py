"""The fair scheduler: calls take turns for Whisper's workers, a flood holds at most its share, partials
never queue. Real threads run the jobs (sleeps stand in for inference)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from audiohook_server.speech.scheduler import FairScheduler


def _job(name: str, seconds: float, log: list[str]) -> str:
    time.sleep(seconds)
    log.append(name)
    return name


def test_a_flood_does_not_delay_another_calls_final() -> None:
    async def scenario() -> tuple[list[str], float]:
        with ThreadPoolExecutor(2) as pool:
            scheduler = FairScheduler(pool, 2)
            done: list[str] = []
            flood = [scheduler.submit_final("flood", _job, f"flood-{i}", 0.1, done) for i in range(20)]
            await asyncio.sleep(0.05)
            asked = time.monotonic()
            await scheduler.submit_final("normal", _job, "normal", 0.1, done)
            waited = time.monotonic() - asked
            await asyncio.gather(*flood)
            return done, waited

    done, waited = asyncio.run(scenario())
    assert waited < 0.25  # one worker was kept free for other calls: it ran at once (0.1 s), not after 20 jobs
    assert done.index("normal") < 5


def test_calls_take_turns() -> None:
    async def scenario() -> list[str]:
        with ThreadPoolExecutor(1) as pool:
            scheduler = FairScheduler(pool, 1)
            done: list[str] = []
            jobs = [scheduler.submit_final("a", _job, f"a{i}", 0.01, done) for i in range(3)]
            jobs += [scheduler.submit_final("b", _job, f"b{i}", 0.01, done) for i in range(3)]
            await asyncio.gather(*jobs)
            return done

    order = asyncio.run(scenario())
    assert order == ["a0", "b0", "a1", "b1", "a2", "b2"]


def test_a_call_alone_uses_every_worker() -> None:
    async def scenario() -> float:
        with ThreadPoolExecutor(2) as pool:
            scheduler = FairScheduler(pool, 2)
            started = time.monotonic()
            await asyncio.gather(*(scheduler.submit_final("only", _job, str(i), 0.2, []) for i in range(2)))
            return time.monotonic() - started

    assert asyncio.run(scenario()) < 0.35  # both in parallel


def test_partials_are_skipped_while_finals_wait_and_errors_reach_the_caller() -> None:
    def fail() -> None:
        raise RuntimeError("inference failed")

    async def scenario() -> None:
        with ThreadPoolExecutor(1) as pool:
            scheduler = FairScheduler(pool, 1)
            first = scheduler.submit_final("a", _job, "x", 0.05, [])
            assert scheduler.try_partial("b", _job, "p", 0.0, []) is None  # the worker is busy
            failing = scheduler.submit_final("a", fail)
            assert scheduler.pending("a") == 2
            await first
            try:
                await failing
            except RuntimeError as error:
                assert "inference failed" in str(error)
            else:
                raise AssertionError("the job's exception was lost")
            partial = scheduler.try_partial("b", _job, "p", 0.0, [])
            assert partial is not None and await partial == "p"
            assert scheduler.pending("a") == 0 and scheduler.waiting_finals == 0

    asyncio.run(scenario())
