"""Whisper's workers shared fairly between calls: no call's backlog delays another call's finals.

With one first-in-first-out queue, a call that floods the server (sends minutes of speech in a
second) queues dozens of finals, and every other call's next final waits behind all of them. Here each
call has its own queue of waiting jobs, and a free worker takes the next job round-robin from the calls
that have one, preferring calls with fewer jobs already running. While several calls have work, one
call may hold at most `workers - 1` workers (at least one), so a new final of another call finds a
worker free at once. Jobs go to the thread pool only when a worker is free, so the pool's own queue
never holds a backlog. A partial runs only while no final is waiting or running and a worker is free,
and is skipped (never queued) otherwise: partials are the first thing to give up under load, finals
never.

Runs on the event loop (no locks): `submit_final` and `try_partial` are called from it and the jobs'
results come back to it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["FairScheduler"]

T = TypeVar("T")


@dataclass
class _Job(Generic[T]):
    call: str
    func: Callable[..., T]
    args: tuple[Any, ...]
    future: asyncio.Future[T]
    final: bool = True


@dataclass
class FairScheduler:
    executor: Executor
    workers: int
    _waiting: dict[str, deque[_Job[Any]]] = field(default_factory=dict)  # call -> its waiting finals
    _turns: deque[str] = field(default_factory=deque)  # calls with waiting finals, in round-robin order
    _running: dict[str, int] = field(default_factory=dict)  # call -> its finals running
    _busy: int = 0  # workers running a job (final or partial)
    _finals_running: int = 0
    _served: dict[str, int] = field(default_factory=dict)  # call -> when it last got a worker (a counter)
    _clock: int = 0

    @property
    def waiting_finals(self) -> int:
        return sum(len(queue) for queue in self._waiting.values())

    def pending(self, call: str) -> int:
        """This call's finals waiting or running (partials not counted)."""
        return len(self._waiting.get(call, ())) + self._running.get(call, 0)

    def submit_final(self, call: str, func: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run `func(*args)` for `call` when its turn comes; never dropped."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        queue = self._waiting.setdefault(call, deque())
        if not queue:
            self._turns.append(call)
        queue.append(_Job(call, func, args, future))
        self._dispatch()
        return future

    def try_partial(self, call: str, func: Callable[..., T], *args: Any) -> asyncio.Future[T] | None:
        """Run `func(*args)` at once if a worker is free and no final is waiting; else None (skipped)."""
        if self._busy >= self.workers or self._waiting or self._finals_running:
            return None
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._start(_Job(call, func, args, future, final=False))
        return future

    def _limit(self) -> int:
        """How many workers one call may hold: all of them when it is alone, else all but one."""
        active = set(self._turns) | {call for call, n in self._running.items() if n}
        return self.workers if len(active) <= 1 else max(1, self.workers - 1)

    def _dispatch(self) -> None:
        while self._busy < self.workers and self._turns:
            job = self._next_job()
            if job is None:
                return  # every waiting call already holds its share: the job waits for one of them
            self._start(job)

    def _next_job(self) -> _Job[Any] | None:
        limit = self._limit()
        candidates = [call for call in self._turns if self._running.get(call, 0) < limit]
        if not candidates:
            return None
        # The call with the fewest jobs running, and among those the one served longest ago: round-robin.
        best = min(candidates, key=lambda call: (self._running.get(call, 0), self._served.get(call, -1)))
        self._clock += 1
        self._served[best] = self._clock
        queue = self._waiting[best]
        job = queue.popleft()
        if not queue:
            del self._waiting[best]
            self._turns.remove(best)
        return job

    def _start(self, job: _Job[Any]) -> None:
        self._busy += 1
        if job.final:
            self._finals_running += 1
            self._running[job.call] = self._running.get(job.call, 0) + 1
        running = asyncio.get_running_loop().run_in_executor(self.executor, job.func, *job.args)
        running.add_done_callback(lambda done: self._finished(job, done))

    def _finished(self, job: _Job[Any], done: asyncio.Future[Any]) -> None:
        self._busy -= 1
        if job.final:
            self._finals_running -= 1
            left = self._running.get(job.call, 0) - 1
            if left > 0:
                self._running[job.call] = left
            else:
                self._running.pop(job.call, None)
            if not self.pending(job.call):
                self._served.pop(job.call, None)  # no work left: nothing to remember (memory stays bounded)
        if not job.future.done():
            if done.cancelled():
                job.future.cancel()
            elif done.exception() is not None:
                job.future.set_exception(done.exception())  # type: ignore[arg-type]
            else:
                job.future.set_result(done.result())
        self._dispatch()
