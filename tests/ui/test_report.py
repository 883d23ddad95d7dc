"""The QA report file (ui.report): one self-contained page from the call's files; no transcript can
become markup, and nothing in it reaches for the network."""

from __future__ import annotations

import json
import re
from pathlib import Path

from audiohook_server.calls.transcript_csv import TranscriptCsv, TranscriptRow
from audiohook_server.ui.report import write_report

HOSTILE = '</script><img src=x onerror=alert(1)> & "quotes"'


def test_the_report_embeds_the_call_and_escapes_what_callers_said(tmp_path: Path) -> None:
    csv = TranscriptCsv(tmp_path / "call-1.csv")
    csv.add(TranscriptRow("call-1", 0.5, 2.0, "external", "customer", HOSTILE, 0.9, "negative", "angry", "",
                          utterance_sentiment_score=-0.6).as_dict())  # fmt: skip
    csv.write()
    (tmp_path / "call-1.session.json").write_text(json.dumps({"session_id": "call-1", "dialect": "genesys"}))
    report = write_report(tmp_path / "call-1.csv")
    assert report == tmp_path / "call-1.report.html"
    page = report.read_text(encoding="utf-8")
    assert "<img" not in page and page.count("</script>") == page.count("<script")
    data = re.search(r'<script type="application/json" id="call-data">(.*?)</script>', page, re.S)
    assert data is not None
    call = json.loads(data.group(1))
    assert call["utterances"][0]["text"] == HOSTILE and call["door"] == "genesys" and call["live"] is False
    assert not re.search(r"""(src|href)=["']?https?://""", page)  # offline: nothing to fetch
    assert len(page) < 150_000


def test_a_report_that_cannot_be_written_costs_nothing_else(tmp_path: Path) -> None:
    assert write_report(tmp_path / "missing.csv") is None
