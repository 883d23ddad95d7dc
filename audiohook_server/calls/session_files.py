"""One call's files in the recordings directory: the export sink the call core writes to.

    <stem>.csv            the transcript, one row per final (header from the first moment)
    <stem>.journal.jsonl  every row fsynced as it is produced; removed once the CSV is complete
    <stem>.wav            the audio as received (optional); with recording redaction, held in memory
                          until its utterances' finals have silenced what they must (`held_recording`)
    <stem>.session.json   what the session was: dialect, media, conversation, who authenticated; at
                          the end also when it ended, how long it lasted and why it ended
    <stem>.summary.json   the final analysis breakdown, written with the CSV (a diarized call: with its
                          speakers and their roles, `diarization`)
    <stem>.report.html    the QA report: one self-contained page of the finished call (`ui.report`)
    calls.csv             the call's row, appended when it ends (shared by every call: `calls_csv`)

`open` runs before any audio is processed and `close` exactly once however the call ends, both in a
worker thread (they touch the disk). The journal line and the CSV row are added together, so the
journal always holds at least what the client was sent. `close` writes the CSV, the summary, the
session record's end, the report, then the calls.csv row, and only then removes the journal: a crash anywhere
before leaves the journal, and recovery at the next start completes what is missing (the row at most
once: it checks calls.csv first).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis import CallAnalysis
from audiohook_server.calls.atomic_files import FILE_MODE, reserve_session_files, write_json_atomically
from audiohook_server.calls.call_record import CallFiles, call_row, calls_csv, ended_fields
from audiohook_server.calls.held_recording import HeldRecording
from audiohook_server.calls.journal import SessionJournal, journal_path
from audiohook_server.calls.recording import RecordingWriter
from audiohook_server.calls.transcript_csv import CSV_HEADER, TranscriptCsv, TranscriptRow
from audiohook_server.ui.report import write_report

__all__ = ["SessionFiles"]


@dataclass
class SessionFiles:
    """The export sink of one call, in `directory`."""

    directory: Path
    session_id: str
    rate: int
    channels: int
    metadata: dict[str, Any]
    record_audio: bool = True
    mode: int = FILE_MODE  # every file of the call (they hold what customers said)
    # The server chose the id (HTTP sessions): its files are exactly `<id>.*`, replaced when the session is
    # resumed after a restart (it transcribes its upload again from the start), never `<id>-2.*`.
    exact_stem: bool = False
    # The session may have ended once already (an HTTP session resumed after a restart): its calls.csv row
    # is appended only if calls.csv does not have it yet.
    once_per_csv: bool = False
    # Recording redaction: audio reaches the WAV only up to `release()`, silenced where `silence()` said.
    hold_recording: bool = False
    report: bool = True  # write <stem>.report.html when the call ends
    audio_frames: int = field(default=0, init=False)
    csv: TranscriptCsv | None = field(default=None, init=False)
    journal: SessionJournal | None = field(default=None, init=False)
    recording: RecordingWriter | None = field(default=None, init=False)
    held: HeldRecording | None = field(default=None, init=False)
    diarization: dict[str, object] | None = field(default=None, init=False)

    @property
    def csv_path(self) -> Path | None:
        return self.csv.path if self.csv else None

    def open(self) -> None:
        if self.exact_stem:
            csv_path, wav_path = self.directory / f"{self.session_id}.csv", self.directory / f"{self.session_id}.wav"
            self.directory.mkdir(parents=True, exist_ok=True)
            TranscriptCsv(csv_path, mode=self.mode).write()  # the header alone, until the rows come
            journal_path(csv_path).unlink(missing_ok=True)  # a killed run's: its rows are made again
        else:
            csv_path, wav_path = reserve_session_files(self.session_id, self.directory, CSV_HEADER, self.mode)
        self.csv = TranscriptCsv(csv_path, mode=self.mode)
        self.journal = SessionJournal(journal_path(csv_path), self.mode)
        write_json_atomically(csv_path.with_suffix(".session.json"), self.metadata, self.mode)
        if self.record_audio:
            self.recording = RecordingWriter(wav_path, self.rate, self.channels, self.mode)
            if self.hold_recording:
                self.held = HeldRecording(self.recording)

    def record(self, samples: npt.NDArray[np.int16]) -> None:
        self.audio_frames += samples.shape[0]
        if self.held is not None:
            self.held.append(samples)
        elif self.recording is not None:
            self.recording.write(samples)

    def silence(self, channel: int, start: int, end: int) -> None:
        if self.held is not None:
            self.held.silence(channel, start, end)

    def release(self, upto: int) -> None:
        if self.held is not None:
            self.held.release(upto)

    def add_final(self, row: TranscriptRow) -> None:
        assert self.csv is not None and self.journal is not None, "open() first"
        self.csv.add(row)
        self.journal.append(row.as_dict())

    def relabel(self, row: int, speaker: str, speaker_id: str, role_confidence: float | None) -> None:
        """The end-of-call speaker of a row, into the CSV (the journal keeps the live one: recovery
        after a crash has only those)."""
        assert self.csv is not None, "open() first"
        values = self.csv.rows[row]
        values.update(
            speaker=speaker,
            speaker_id=speaker_id,
            role_confidence=round(role_confidence, 3) if role_confidence is not None else "",
        )

    def describe_speakers(self, diarization: dict[str, object]) -> None:
        self.diarization = diarization

    def close(self, analysis: CallAnalysis | None, reason: str = "completed") -> None:
        """The final CSV, analysis summary, session record and calls.csv row; the journal goes last."""
        if self.held is not None:
            self.held.close()  # every final is in: what is left is written, silenced where it must be
            self.held = None
            self.recording = None
        elif self.recording is not None:
            self.recording.close()
            self.recording = None
        if self.csv is None:
            return
        self.csv.write()
        path = self.csv.path
        if analysis is not None:
            summary = analysis.to_summary()
            if self.diarization is not None:
                summary["diarization"] = self.diarization
            write_json_atomically(path.with_suffix(".summary.json"), summary, self.mode)
        self.metadata.update(ended_fields(self.metadata, time.time(), reason, self.audio_frames / self.rate))
        write_json_atomically(path.with_suffix(".session.json"), self.metadata, self.mode)
        if self.report:
            write_report(path, self.mode)
        row = call_row(self.metadata, self.csv.rows, CallFiles.beside(path))
        calls_csv(self.directory, self.mode).append(
            row.as_dict(), unless_present="transcript_csv" if self.once_per_csv else None
        )
        if self.journal is not None:
            self.journal.close(remove=True)
            self.journal = None
