"""Pacing the audio like a live source: each frame goes out once its last sample has been "spoken".

A server's latency only means something against the clock of a live call, where audio at stream
position t exists from `started_at + t / speed` on. Frame i goes out at `started_at + (end of frame
i) / speed`, reckoned from the start and not from the previous frame, so delays never accumulate and
no audio is sent before it exists; latency measured against `started_at + end / speed` is what a
caller would see. Waiting gives way at once when the session says stop.
"""

from __future__ import annotations

import asyncio
import math
import time

from audiohook_server.client.dialect import SAMPLE_RATE


class Pacer:
    """Waits, on the monotonic clock, until the audio up to a stream position has been spoken at `speed`."""

    def __init__(self, speed: float, stop: asyncio.Event) -> None:
        self.speed = speed
        self.paced = speed > 0 and math.isfinite(speed)  # 0 or inf: as fast as the connection takes it
        self.stop = stop  # set by the session: stop sending audio
        self.started_at = 0.0

    def start(self) -> float:
        """Stream position 0 is spoken now; returns that monotonic time."""
        self.started_at = time.monotonic()
        return self.started_at

    async def wait_until_spoken(self, samples: int) -> bool:
        """Wait until the first `samples` samples have been spoken; True when told to stop instead.

        Unpaced, it only lets the other tasks (the receiver) run.
        """
        if not self.paced:
            await asyncio.sleep(0)
            return self.stop.is_set()
        return await self._sleep_until(self.started_at + samples / SAMPLE_RATE / self.speed)

    async def _sleep_until(self, deadline: float) -> bool:
        """Sleep until the monotonic `deadline`; True when told to stop instead."""
        if self.stop.is_set():
            return True
        delay = deadline - time.monotonic()
        if delay <= 0:
            await asyncio.sleep(0)  # let the receiver run even when behind schedule
            return self.stop.is_set()
        try:
            await asyncio.wait_for(self.stop.wait(), delay)
        except TimeoutError:
            return False
        return True
