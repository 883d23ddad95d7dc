"""Card numbers never reach the disk: a rendered call in which the customer reads a card number (over
two utterances), its expiry and its security code is streamed through the real server as a Genesys
session with the default policy (payment data redacted in every file and the recording), and the
journal (read while the call is still open), the CSV, the summary, calls.csv and the WAV are searched
for the digits. The WAV is searched by transcribing the customer's card and code turns again with the
server's own Whisper: what was silenced must not come back as digits. Numbers that are not payment
data (the order number, the price) must survive.

The call: ``tests/fixtures/redaction/call.json`` (``scripts/make_fixtures.py --only redaction``).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

from audiohook_server.audio.resampling import resample
from audiohook_server.audio.wav_files import read_wav
from audiohook_server.client.genesys import GenesysClient, media_offer
from audiohook_server.speech.engine import SpeechEngine
from tests.conftest import API_KEY, RunningServer
from tests.turn_timing import bound_errors, csv_spans, labelled_spans, summary, timing_problems

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).parents[1] / "fixtures" / "redaction"
WORDS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6"}
WORDS |= {"seven": "7", "eight": "8", "nine": "9"}


def digits_of(text: str) -> str:
    """Every digit a text says, written or spoken, in order ("4, five 3" -> "453")."""
    out = []
    for word in re.findall(r"[a-z]+|\d", text.lower()):
        out.append(WORDS.get(word, word if word.isdigit() else ""))
    return "".join(out)


def contains_run(text: str, digits: str, length: int = 4) -> str | None:
    """A `length`-digit stretch of `digits` that `text`'s digits contain, else None."""
    said = digits_of(text)
    for i in range(len(digits) - length + 1):
        if digits[i : i + length] in said:
            return digits[i : i + length]
    return None


@pytest.fixture(scope="module")
def call() -> dict[str, object]:
    return json.loads((FIXTURE / "call.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def streamed(server: RunningServer, call: dict[str, object]) -> tuple[str, list[str]]:
    """(session id, the journal's lines as they were while the call was open)."""
    audio, rate = read_wav(FIXTURE / "call_stereo8k_ulaw.wav")
    assert rate == 8000 and audio.ndim == 2
    journal_lines: list[str] = []

    async def stream() -> str:
        client = GenesysClient(server.url, API_KEY)
        await client.connect()
        await client.open(media=[media_offer(["external", "internal"])])
        client.start_pinging()
        await client.stream(audio, fmt="PCMU", frame_ms=200, speed=4.0)
        session_id = str(client.session_id)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # every final is journalled before the client sees it
            journals = list(server.recordings.glob(f"{session_id}*.journal.jsonl"))
            if journals:
                lines = journals[0].read_text(encoding="utf-8").splitlines()
                if any("thanks very much" in line.lower() for line in lines):
                    journal_lines.extend(lines)
                    break
            await asyncio.sleep(0.2)
        await client.close(timeout=300)
        await client.aclose()
        return session_id

    session_id = server.call(stream())
    assert journal_lines, "the journal never held the customer's last utterance while the call was open"
    return session_id, journal_lines


def _strings(value: object) -> list[str]:
    """Every string in a JSON value (numbers are times, scores, counts: not what a caller said)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in [str(key), *_strings(item)]]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _cells(text: str) -> list[str]:
    """The CSV's text cells (not its numbers: times, confidences, scores)."""
    rows = list(csv.reader(io.StringIO(text)))
    return [cell for row in rows for cell in row if not re.fullmatch(r"-?[\d.]+", cell)]


_NOT_SAID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # session and conversation ids
    r"|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?",  # timestamps
    re.IGNORECASE,
)


def _said(strings: list[str]) -> list[str]:
    """`strings` without the ids and timestamps the server writes, whose digits can match a card's by chance."""
    return [_NOT_SAID.sub("", string) for string in strings]


def _files(server: RunningServer, session_id: str) -> dict[str, str]:
    csv_path = server.recordings / f"{session_id}.csv"
    summary = csv_path.with_suffix(".summary.json")
    deadline = time.monotonic() + 30
    while not summary.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return {
        "csv": csv_path.read_text(encoding="utf-8"),
        "summary": summary.read_text(encoding="utf-8"),
        "session": csv_path.with_suffix(".session.json").read_text(encoding="utf-8"),
        "calls.csv": (server.recordings / "calls.csv").read_text(encoding="utf-8"),
    }


def test_no_card_digits_in_the_journal_while_the_call_is_open(
    streamed: tuple[str, list[str]], call: dict[str, object]
) -> None:
    _, lines = streamed
    pii = call["pii"]
    assert isinstance(pii, dict)
    texts = [json.loads(line)["text"] for line in lines]
    assert any("[CARD_NUMBER]" in text for text in texts), texts
    assert any("[SECURITY_CODE]" in text for text in texts), texts
    for text in texts:
        assert contains_run(text, pii["card_number"]) is None, text
        assert pii["security_code"] not in digits_of(text) or "order number" in text.lower(), text


def test_no_card_digits_in_the_csv_summary_or_calls_csv(
    server: RunningServer, streamed: tuple[str, list[str]], call: dict[str, object]
) -> None:
    session_id, _ = streamed
    pii = call["pii"]
    assert isinstance(pii, dict)
    files = _files(server, session_id)
    rows = files["csv"].splitlines()
    assert len(rows) > 5
    for name, text in files.items():
        strings = _said(_cells(text) if name.endswith("csv") else _strings(json.loads(text)))
        for string in strings:
            assert contains_run(string, pii["card_number"]) is None, (name, string)
        assert pii["card_number"] not in digits_of(" ".join(strings)), name
    # The customer's code turn is redacted; the order number and the price are not payment data.
    assert "[SECURITY_CODE]" in files["csv"]
    assert "62753" in re.sub(r"[ ,]", "", files["csv"]) or "62753" in digits_of(files["csv"])
    assert "59" in files["csv"]


def test_the_recording_is_silenced_where_the_card_was_read(
    server: RunningServer, streamed: tuple[str, list[str]], call: dict[str, object]
) -> None:
    session_id, _ = streamed
    pii = call["pii"]
    assert isinstance(pii, dict)
    wav = server.recordings / f"{session_id}.wav"
    audio, rate = read_wav(wav)
    original, _ = read_wav(FIXTURE / "call_stereo8k_ulaw.wav")
    assert audio.shape == original.shape, "the whole call is in the recording"
    engine = server.server.engine
    assert isinstance(engine, SpeechEngine) and engine.transcriber is not None
    turns = call["turns"]
    assert isinstance(turns, list)
    for index in (1, 2, 6):  # the card's two turns and the security code's
        turn = turns[index]
        a, b = int((turn["start"] - 0.3) * rate), int((turn["end"] + 0.3) * rate)
        customer = audio[a:b, 0]
        heard = engine.transcriber.transcribe(
            resample(customer, rate, 16000).astype(np.float32) / 32768.0, language="en", final=True
        ).text
        assert contains_run(heard, pii["card_number"], 3) is None, (index, heard)
        assert pii["security_code"] not in digits_of(heard), (index, heard)
        # It was speech before: the original turn transcribes to the digits.
        before = engine.transcriber.transcribe(
            resample(original[a:b, 0], rate, 16000).astype(np.float32) / 32768.0, language="en", final=True
        ).text
        assert len(digits_of(before)) >= 3, before
    # The agent's channel and the customer's other turns are untouched.
    np.testing.assert_array_equal(audio[:, 1], original[:, 1])
    goodbye = turns[8]
    a, b = int(goodbye["start"] * rate), int(goodbye["end"] * rate)
    np.testing.assert_array_equal(audio[a:b, 0], original[a:b, 0])


def test_csv_times_are_on_the_labelled_turn_boundaries(
    server: RunningServer, streamed: tuple[str, list[str]], call: dict[str, object]
) -> None:
    """Issue 18: redacted rows keep their speech's times (within 0.1 s median, 0.3 s max of the labels)."""
    rows = list(csv.DictReader(io.StringIO(_files(server, streamed[0])["csv"])))
    errors = bound_errors(csv_spans([row for row in rows if row["channel"]]), labelled_spans(call))
    print(summary(errors))
    assert timing_problems(errors) == []
