"""Who spoke on a mono call, on the real server: the scripted two-voice call (eSpeak m3 agent, f3
customer, mixed into one channel) streamed on the simple dialect as a SIP trunk sends it. The finals
carry `speaker_1`/`speaker_2` and agent/customer roles; the end-of-call corrections (a
`speaker_update` event) make the finals match the CSV, whose `speaker`/`speaker_id` columns and the
summary's `diarization` say the same. Accuracy on real voices is benchmarks/bench_diarization.py's."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pandas as pd
import pytest

from audiohook_server.client import StreamResult, stream_wav
from tests.conftest import API_KEY, RunningServer
from tests.diarization_checks import corrected, dialogue_turns, label_is_consistent, role_share
from tests.speech_fixtures import DIALOGUE


@pytest.fixture(scope="module")
def mono_call(server: RunningServer) -> StreamResult:
    result = asyncio.run(
        stream_wav(server.url, DIALOGUE / "call_mono16k.wav", api_key=API_KEY, speed=4.0, session_id="diarized-call")
    )
    assert result.ok, (result.errors, result.close_code)
    return result


def _speaker_updates(result: StreamResult) -> list[dict[str, Any]]:
    entities = [m.message["parameters"]["entity"] for m in result.messages if m.message["type"] == "event"]
    return [e for e in entities if e.get("type") == "speaker_update"]


def _spans(finals: list[dict[str, Any]], field: str) -> list[tuple[float, float, str, int]]:
    return [(f["start"], f["end"], f[field], len(f["value"].split())) for f in finals]


def test_finals_say_which_voice_and_which_role(mono_call: StreamResult) -> None:
    turns = dialogue_turns()
    finals = mono_call.finals
    assert {f["speaker_id"] for f in finals} == {"speaker_1", "speaker_2"}
    assert {f["speaker"] for f in finals} == {"agent", "customer"}
    assert all(0.5 <= f["role_confidence"] <= 1 for f in finals)
    # Live, as each final was made: two synthetic voices this different are told apart almost always.
    assert label_is_consistent(_spans(finals, "speaker_id"), turns) >= 0.9
    assert role_share(_spans(finals, "speaker"), turns) >= 0.9
    assert finals[0]["speaker_id"] == "speaker_1" and finals[0]["speaker"] == "agent"  # "Thank you for calling"


def test_the_corrections_make_the_finals_what_the_csv_says(server: RunningServer, mono_call: StreamResult) -> None:
    updates = _speaker_updates(mono_call)
    assert len(updates) <= 1, "one speaker_update at most, at the end"
    corrections = updates[0]["corrections"] if updates else []
    if updates:
        events = [m.message for m in mono_call.messages]
        at = next(i for i, e in enumerate(events) if e["type"] == "event" and e["parameters"]["entity"] is updates[0])
        assert all(e["type"] != "event" or not e["parameters"]["entity"].get("is_final") for e in events[at + 1 :])
        assert events[-1]["type"] == "closed"
    now = corrected(mono_call.finals, corrections)
    frame = pd.read_csv(server.recordings / "diarized-call.csv", keep_default_na=False)
    assert list(frame["text"]) == [f["value"] for f in mono_call.finals]  # one row per final, in order
    assert list(zip(frame["speaker"], frame["speaker_id"], strict=True)) == [
        now[f["utterance_id"]] for f in mono_call.finals
    ]
    assert frame["role_confidence"].between(0.5, 1).all()
    turns = dialogue_turns()
    spans = [
        (float(a), float(b), str(who), len(str(text).split()))
        for a, b, who, text in zip(frame["start"], frame["end"], frame["speaker"], frame["text"], strict=True)
    ]
    assert role_share(spans, turns) == 1.0, "after the whole call every word is on its speaker"


def test_the_summary_names_the_speakers_and_their_roles(server: RunningServer, mono_call: StreamResult) -> None:
    summary = json.loads((server.recordings / "diarized-call.summary.json").read_text())
    diarization = summary["diarization"]
    assert diarization["mode"] == "auto" and diarization["embedder"] == "ge2e"
    speakers = diarization["speakers"]
    assert set(speakers) == {"speaker_1", "speaker_2"}
    assert {s["role"] for s in speakers.values()} == {"agent", "customer"}
    assert sum(int(s["utterances"]) for s in speakers.values()) == len(mono_call.finals)
    # The analysis read the roles: the customer's and the agent's sentiment, not one unknown speaker's.
    assert {"agent", "customer"} <= set(summary["speakers"])


def test_the_metrics_count_the_diarization(server: RunningServer, mono_call: StreamResult) -> None:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as response:
        text = response.read().decode()
    count = next(line for line in text.splitlines() if line.startswith("audiohook_diarization_seconds_count"))
    assert float(count.split()[-1]) >= len(mono_call.finals) - 2  # a split final is one diarization
