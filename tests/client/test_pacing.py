"""`audiohook_server.client.pacing`: frames wait for their audio to be spoken, and give way to a stop."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from audiohook_server.client.pacing import Pacer


@pytest.mark.parametrize("speed", [0.0, math.inf])
def test_unpaced_only_yields(speed: float) -> None:
    async def scenario() -> None:
        stop = asyncio.Event()
        pacer = Pacer(speed, stop)
        pacer.start()
        before = time.monotonic()
        assert not await pacer.wait_until_spoken(16000 * 3600)  # an hour of audio, not waited for
        assert time.monotonic() - before < 1
        stop.set()
        assert await pacer.wait_until_spoken(16000 * 3600)

    asyncio.run(scenario())


def test_paced_waits_from_the_start_not_from_the_last_frame() -> None:
    async def scenario() -> None:
        pacer = Pacer(4.0, asyncio.Event())
        started = pacer.start()
        assert not await pacer.wait_until_spoken(4000)  # 250 ms of audio at speed 4: 62.5 ms after the start
        assert time.monotonic() - started >= 0.0625 - 0.005
        await asyncio.sleep(0.2)  # behind schedule: the next frames go out at once
        before = time.monotonic()
        assert not await pacer.wait_until_spoken(8000)
        assert time.monotonic() - before < 0.1

    asyncio.run(scenario())


def test_stop_cuts_a_wait_short() -> None:
    async def scenario() -> None:
        stop = asyncio.Event()
        pacer = Pacer(1.0, stop)
        pacer.start()
        asyncio.get_running_loop().call_later(0.05, stop.set)
        before = time.monotonic()
        assert await pacer.wait_until_spoken(16000 * 60)  # a minute of audio
        assert time.monotonic() - before < 10

    asyncio.run(scenario())
