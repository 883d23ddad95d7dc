"""What `audiohook-client` shows while a call streams: progress, the live partial line, finals, analysis, a summary.

A person watching a call wants the transcript as it grows and a progress bar; a script wants every
server message as one JSON line on stdout. Every door shows the same things: each door's adapter
(`on_message` here for the simple dialect; `genesys_call`, `jwt_call`, `http_call` for the others)
turns its messages into a transcript entity in the simple dialect's shape (`show_transcript`), the
call analysis (`show_analysis`) and notices (`show_notice`), and the session ends in a `CallOutcome`
(`summary`). It is kept apart from the sessions so that the library never prints, and the one-line
formats (`format_final`, `format_analysis`) are reusable by tests and benchmarks.

On a terminal the progress is a bar that redraws in place. When stderr is not a terminal (a log file,
CI, a pipe) a bar would print a new line for every redraw, so progress is one line at each quarter
of the audio instead.
"""

from __future__ import annotations

import json
import shutil
from typing import Any, TextIO

from tqdm import tqdm

from audiohook_server.client.dialect import is_transcript, parameters_of
from audiohook_server.client.results import CallOutcome, ReceivedEvent


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _seconds(value: float | None) -> str:
    return f"{value:6.2f}" if value is not None else "     ?"


def format_final(entity: dict[str, Any]) -> str:
    """`[ 12.34 -  15.67] ch0 speaker: text  (conf 0.91)`."""
    start, end, confidence = _number(entity.get("start")), _number(entity.get("end")), _number(entity.get("confidence"))
    times = f"[{_seconds(start)} - {_seconds(end)}]"
    channel = entity.get("channel", 0)
    speaker = entity.get("speaker") or "unknown"
    line = f"{times} ch{channel} {speaker}: {str(entity.get('value', '')).strip()}"
    return f"{line}  (conf {confidence:.2f})" if confidence is not None else line


def format_analysis(analysis: dict[str, Any], width: int = 160) -> str:
    """`analysis: sentiment=… emotion=… agent_score=… | summary…` on one line."""
    fields = " ".join(f"{key}={analysis[key]}" for key in ("sentiment", "emotion", "agent_score") if key in analysis)
    summary = " ".join(str(analysis.get("summary") or "").split())
    if len(summary) > width:
        summary = summary[: width - 1] + "…"
    return f"analysis: {fields}" + (f" | {summary}" if summary else "")


def format_notice(received: ReceivedEvent) -> str | None:
    """The line for a server `error` or `disconnect`; None for any other message."""
    params = parameters_of(received.message)
    if received.type == "error":
        return f"server error {params.get('code', '?')}: {params.get('message', '')}"
    if received.type == "disconnect":
        info = f" ({params['info']})" if params.get("info") else ""
        return f"server disconnected: {params.get('reason', '?')}{info}"
    return None


class Console:
    """What `main` shows: progress bar, partial line, finals and analysis changes; or JSON lines."""

    def __init__(self, *, total_s: float, json_lines: bool, quiet: bool, out: TextIO, err: TextIO) -> None:
        self.json_lines = json_lines
        self.quiet = quiet
        self.out = out
        self.err = err
        self.bar: tqdm[Any] | None = None
        self.status: tqdm[Any] | None = None
        self.partial_shown = False
        self.last_analysis: dict[str, Any] | None = None
        self.sent_shown = 0.0
        self.total_s = total_s
        self.started = False
        self.quarters_shown = 0  # progress lines printed when stderr is not a terminal

    def start(self, notice: str | None = None) -> None:
        """The session is open: show `notice` (unless quiet) and start the progress output."""
        if self.started:
            return
        self.started = True
        if notice is not None and not self.quiet and not self.json_lines:
            self._print(notice, self.err)
        self._start_bars()

    def _start_bars(self) -> None:
        """Show the progress bar (and the partial line under it) once the session is open, on a terminal."""
        if self.quiet or self.bar is not None or not _isatty(self.err):
            return
        self.bar = tqdm(
            total=round(self.total_s, 2),
            desc="audio sent",
            unit="s",
            file=self.err,
            leave=False,
            dynamic_ncols=True,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]",
        )
        if not self.json_lines:
            self.status = tqdm(total=0, position=1, bar_format="{desc}", file=self.err, leave=False)

    def on_progress(self, audio_sent_s: float) -> None:
        if self.bar is not None:
            self.bar.update(round(audio_sent_s - self.sent_shown, 2))
            self.sent_shown = round(audio_sent_s, 2)
        elif self.started and not self.quiet and self.total_s > 0:
            quarters = min(4, int(4 * audio_sent_s / self.total_s + 1e-9))
            if quarters > self.quarters_shown:
                self.quarters_shown = quarters
                shown = min(audio_sent_s, self.total_s)
                self._print(f"audio: {shown:.1f} of {self.total_s:.1f} s ({25 * quarters}%)", self.err)

    def on_message(self, received: ReceivedEvent) -> None:
        """Show one simple-dialect message as it arrives: transcript and analysis on stdout, notices on stderr."""
        if received.type == "opened":
            self.start(f"session {received.message.get('id', '?')} opened")
        if self.json_lines:
            self.show_json(received.message)
        elif received.type == "event":
            self._show_event(parameters_of(received.message))
        else:
            notice = format_notice(received)
            if notice is not None:
                self.show_notice(notice)

    def show_json(self, message: Any) -> None:
        """One JSON line on stdout (`--json`)."""
        self._print(json.dumps(message, ensure_ascii=False))

    def show_notice(self, text: str) -> None:
        """A server error, a disconnect, a status: on stderr."""
        if not self.json_lines:
            self._print(text, self.err)

    def show_transcript(self, entity: dict[str, Any]) -> None:
        """A transcript entity in the simple dialect's shape: a partial on the partial line, a final on its own."""
        if self.json_lines:
            return
        if entity.get("is_final", True) is False:
            self._show_partial(str(entity.get("value", "")))
        else:
            self._print(format_final(entity))

    def show_analysis(self, analysis: dict[str, Any]) -> None:
        """The call analysis, when it changed."""
        if analysis != self.last_analysis:
            self.last_analysis = analysis
            if not self.json_lines:
                self._print(format_analysis(analysis))

    def _show_event(self, params: dict[str, Any]) -> None:
        """A partial on the partial line, a final on its own line, and the analysis when it changed."""
        entity = params.get("entity")
        if is_transcript(entity):
            self.show_transcript(entity)
        analysis = params.get("analysis")
        if isinstance(analysis, dict):
            self.show_analysis(analysis)

    def _show_partial(self, text: str) -> None:
        width = max(20, shutil.get_terminal_size((100, 20)).columns - 1)
        text = " ".join(text.split())
        line = "… " + (text if len(text) <= width - 2 else text[-(width - 3) :])
        if self.status is not None:
            self.status.set_description_str(line)
        elif self.bar is None and _isatty(self.out):
            self.out.write("\r\x1b[K" + line)
            self.out.flush()
            self.partial_shown = True

    def _print(self, line: str, stream: TextIO | None = None) -> None:
        stream = stream or self.out
        if self.status is not None:
            self.status.set_description_str("")  # a final or a notice replaces the partial line
        if self.partial_shown:
            self.out.write("\r\x1b[K")
            self.partial_shown = False
        if self.bar is not None:
            tqdm.write(line, file=stream)
        else:
            print(line, file=stream, flush=True)

    def close(self) -> None:
        for bar in (self.status, self.bar):
            if bar is not None:
                bar.close()
        self.status = self.bar = None
        if self.partial_shown:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self.partial_shown = False

    def summary(self, outcome: CallOutcome) -> None:
        """The closing lines: finals, audio and time, how the session ended, the door's notes, the last analysis."""
        stream = self.err if self.json_lines else self.out
        elapsed = outcome.elapsed_s
        factor = f" ({outcome.audio_seconds / elapsed:.1f}x real time)" if elapsed > 0 and outcome.audio_seconds else ""
        print(
            f"{outcome.finals} finals, {outcome.audio_seconds:.1f} s of audio in {elapsed:.1f} s{factor}; "
            f"{outcome.ending}",
            file=stream,
            flush=True,
        )
        for note in outcome.notes:
            print(f"  {note}", file=stream)
        if outcome.analysis:
            print("final analysis:", file=stream)
            for key, value in outcome.analysis.items():
                print(f"  {key}: {value}", file=stream)
        stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
