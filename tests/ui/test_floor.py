"""The floor (ui.floor): a call's partials and finals reach its watchers in order; a slow watcher is
dropped, never the call; an ended call moves to the recently ended list."""

from __future__ import annotations

import asyncio
from pathlib import Path

from analysis import UtteranceAnalysis
from audiohook_server.calls.transcript_csv import TranscriptRow
from audiohook_server.ui import floor as floor_module
from audiohook_server.ui.floor import Floor
from protocol.events import TranscriptUpdate


def final_row(text: str, speaker: str = "customer") -> TranscriptRow:
    return TranscriptRow("s", 1.0, 2.0, "external", speaker, text, 0.9, "negative", "angry", "",
                         utterance_sentiment_score=-0.7)  # fmt: skip


RESULT = UtteranceAnalysis("negative", -0.7, "angry")


def test_a_call_from_partial_to_end() -> None:
    async def scenario() -> None:
        floor = Floor()
        call = floor.open_call("s", door="genesys", conversation_id="c-1", has_recording=True)
        watching_floor = floor.watch()
        watching_call = call.watch()
        assert (await watching_floor.next())[0] == "snapshot"  # type: ignore[index]
        assert (await watching_call.next())[0] == "snapshot"  # type: ignore[index]
        call.partial(TranscriptUpdate("1-0", 1, "customer", "this is", False, 1.0, 1.5, "en"))
        assert call.snapshot()["partials"][0]["text"] == "this is"
        call.final("1-0", final_row("This is ridiculous."), RESULT, None)
        names: list[str] = []
        while len(names) < 4:
            event = await watching_call.next()
            assert event is not None
            names.append(event[0])
        assert names == ["partial", "final", "analysis", "alert"]
        assert call.snapshot()["partials"] == [] and len(call.snapshot()["utterances"]) == 1
        call.ended("completed", Path("/tmp/s.csv"))
        assert floor.live_call("s") is None and floor.recent_call("s") is call
        items = []
        while (event := await watching_floor.next()) is not None and event[0] != "ended":
            items.append(event)
        assert event is not None and event[1]["live"] is False
        ended = await watching_call.next()
        assert ended is not None and ended[0] == "ended"
        assert await watching_call.next() is None  # the call's stream ends with the call

    asyncio.run(scenario())


def test_a_watcher_that_falls_behind_is_dropped_and_the_call_goes_on(monkeypatch: object) -> None:
    async def scenario() -> None:
        floor = Floor()
        call = floor.open_call("s", door="simple", conversation_id=None, has_recording=False)
        slow = call.watch()
        for n in range(floor_module.SUBSCRIBER_QUEUE + 10):
            call.final(f"0-{n}", final_row(f"line {n}"), RESULT, None)
        assert slow.dropped and slow not in call.watchers
        events = 0
        while await slow.next() is not None:
            events += 1
        assert events <= floor_module.SUBSCRIBER_QUEUE
        assert len(call.snapshot()["utterances"]) == floor_module.SUBSCRIBER_QUEUE + 10

    asyncio.run(scenario())
