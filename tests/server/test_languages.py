"""Languages through the real server: detected, routed to the multilingual model, translated for the
analysis, written to the CSV and the summary; named languages obeyed, unsupported ones refused.

The server is the default one (tests/conftest.py `server`): tiny.en for English, Whisper base for the
rest, `language` auto. The Italian call is Festival's Italian voice (tests/fixtures/languages/).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from audiohook_server.audio.wav_files import read_wav
from audiohook_server.client import StreamResult, stream_audio
from benchmarks.bench_languages import wer
from tests.conftest import API_KEY, RunningServer
from tests.speech_fixtures import librivox_call

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "languages"
SCRIPT = json.loads((FIXTURE / "it.json").read_text(encoding="utf-8"))


def _stream(server: RunningServer, samples: np.ndarray, **kwargs: Any) -> StreamResult:
    kwargs.setdefault("api_key", API_KEY)
    kwargs.setdefault("speed", 4.0)
    return asyncio.run(stream_audio(server.url, samples, **kwargs))


def _italian() -> np.ndarray:
    samples, rate = read_wav(FIXTURE / "it_mono16k.wav")
    assert rate == 16000
    return samples[:, 0]


@pytest.fixture(scope="module")
def italian_call(server: RunningServer) -> tuple[StreamResult, pd.DataFrame, dict[str, Any]]:
    result = _stream(server, _italian(), session_id="italian-call")
    csv = pd.read_csv(server.recordings / "italian-call.csv", keep_default_na=False)
    summary = json.loads((server.recordings / "italian-call.summary.json").read_text())
    return result, csv, summary


def test_the_languages_supported_are_announced(italian_call: Any) -> None:
    result, _, _ = italian_call
    assert result.opened is not None
    assert result.opened["parameters"]["supportedLanguages"] == ["en", "de", "es", "fr", "it", "pt", "nl"]


def test_an_italian_call_is_detected_and_transcribed_in_italian(italian_call: Any) -> None:
    result, _, _ = italian_call
    assert result.ok, (result.errors, result.close_code)
    finals = result.finals
    assert finals and all(entity["language"] == "it" for entity in finals), finals
    assert all(entity["language_probability"] >= 0.5 for entity in finals)
    # Whisper base on Festival's Italian: the words are Italian and mostly right (measured 5 %).
    assert wer([" ".join(SCRIPT["turns"])], [result.final_text]) <= 0.25, result.final_text


def test_finals_carry_an_english_translation_that_the_analysis_reads(italian_call: Any) -> None:
    result, csv, summary = italian_call
    for entity in result.finals:
        translation = entity["translation"]
        assert isinstance(translation, str) and translation and translation != entity["value"]
    english = " ".join(entity["translation"] for entity in result.finals)
    # Whisper base's translation of it is rough ("my orbit hasn't yet arrived and I'm very happy"), but
    # English: what the English text models can read.
    assert "arrived" in english.lower() and "called" in english.lower(), english
    summary_text = summary["analysis"]["summary"]
    assert summary_text and summary_text.split(".")[0] in english, (summary_text, english)
    # The CSV keeps what was said, the translation beside it, and says the language.
    assert set(csv["language"]) == {"it"}
    assert list(csv["text"]) == [entity["value"] for entity in result.finals]
    assert all(csv["translation"]) and list(csv["translation"]) == [e["translation"] for e in result.finals]
    assert summary["analysed_from_translation"] is True
    # Per speaker: a mono call is diarized, so its voices' roles (agent, customer) are the keys.
    languages = summary["languages"]
    assert languages and all(entry["language"] == "it" for entry in languages.values()), languages
    assert sum(entry["translated"] for entry in languages.values()) == len(result.finals)


def test_naming_the_language_skips_detection(server: RunningServer) -> None:
    result = _stream(server, _italian(), session_id="italian-named", language="it")
    assert result.ok, result.errors
    assert all(entity["language"] == "it" and "language_probability" not in entity for entity in result.finals)
    assert wer([" ".join(SCRIPT["turns"])], [result.final_text]) <= 0.25


def test_an_english_call_stays_on_the_english_model(server: RunningServer) -> None:
    samples, spans = librivox_call()
    result = _stream(server, samples, session_id="english-auto")
    assert result.ok
    assert [entity["language"] for entity in result.finals] == ["en"] * len(result.finals)
    assert all("translation" not in entity for entity in result.finals)
    reference = " ".join(text for _, _, text in spans)
    assert wer([reference], [result.final_text]) <= 0.12


def test_an_unsupported_language_is_refused_with_415(server: RunningServer) -> None:
    result = _stream(server, _italian()[:16000], session_id="turkish", language="tr")
    assert not result.ok
    (error,) = [m.message for m in result.messages if m.message["type"] == "error"]
    assert error["parameters"]["code"] == 415
    assert "'tr' is not supported" in error["parameters"]["message"]
    assert result.close_code == 1003
