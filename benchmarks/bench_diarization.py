"""Diarization of mono calls: who spoke, measured on the mono evaluation set (`diarization_set`).

    .venv/bin/python benchmarks/bench_diarization.py [--offline] [--real N] [--scripted N] [--split test] [--seed 1000]
                                                     [--embedders ge2e,mfcc] [-- server flags...]

Two stages, both printed with the machine:

- `--offline`: the reference turns themselves are the utterances (no VAD, no Whisper): each embedder's
  vectors, the online labels and the re-clustered ones, so the embedders and thresholds are compared
  on the voices alone. Cost: milliseconds per utterance on one torch thread.
- default (the real thing): each call streamed as PCM16 16 kHz mono over the simple dialect through
  `audiohook-server` (a subprocess, `--diarization auto --speaker-embedder E`), as fast as it takes
  the audio; the finals' words and `speaker_id`s (online), the CSV after the call (re-clustered),
  and `speaker_update`.

Metrics: diarization error rate with a 0.25 s collar each side of every reference boundary
(pyannote.metrics, `collar=0.5` is its total), overlap scored; the share of words on the right
speaker (a hypothesis word's midpoint against the reference speakers active there, after the
optimal one-to-one mapping of labels to speakers); the role accuracy (the speaker labelled `agent`
is the reference agent: scripted calls); the cost per utterance (server: `audiohook_diarization_seconds`).
Needs festival, festvox-us-slt-hts, festvox-kallpc16k, espeak-ng and sox for the scripted calls
(Debian; rendered turns are cached in ~/.cache/audiohook-bench). Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audiohook_server.calls.diarization import DiarizationConfig, SpeakerTracker, recluster  # noqa: E402
from audiohook_server.speech.voice_embedding import load_embedder  # noqa: E402
from benchmarks.common import machine, serve  # noqa: E402
from benchmarks.diarization_set import RATE, MonoCall, Segment, real_calls, real_conversation, scripted_calls  # noqa: E402

KEY = "bench-diarization"


@dataclass(frozen=True)
class Labelled:
    start: float
    end: float
    label: str
    words: tuple[tuple[float, float], ...] = ()  # (start, end) of each word


def der(call: MonoCall, hypothesis: Sequence[Labelled]) -> float:
    from pyannote.core import Annotation
    from pyannote.core import Segment as Span
    from pyannote.metrics.diarization import DiarizationErrorRate

    reference, hyp = Annotation(), Annotation()
    for i, s in enumerate(call.segments):
        reference[Span(s.start, s.end), i] = s.speaker
    for i, h in enumerate(hypothesis):
        if h.end > h.start:
            hyp[Span(h.start, h.end), i] = h.label
    return float(DiarizationErrorRate(collar=0.5, skip_overlap=False)(reference, hyp))


def _mapping(call: MonoCall, hypothesis: Sequence[Labelled]) -> dict[str, str]:
    from scipy.optimize import linear_sum_assignment

    labels = sorted({h.label for h in hypothesis})
    speakers = call.speakers
    overlap = np.zeros((len(labels), len(speakers)))
    for h in hypothesis:
        for s in call.segments:
            overlap[labels.index(h.label), speakers.index(s.speaker)] += max(
                0.0, min(h.end, s.end) - max(h.start, s.start)
            )
    rows, cols = linear_sum_assignment(-overlap)
    return {labels[r]: speakers[c] for r, c in zip(rows, cols, strict=True)}


def purity(call: MonoCall, hypothesis: Sequence[Labelled]) -> int:
    """The words each final's own majority speaker said: what a perfect label per final would get
    (below the words: the finals hold several speakers' words)."""
    right = 0
    for h in hypothesis:
        counts: dict[str, int] = {}
        for a, b in h.words or ((h.start, h.end),):
            mid = (a + b) / 2
            for speaker in {s.speaker for s in call.segments if s.start - 0.15 <= mid <= s.end + 0.15}:
                counts[speaker] = counts.get(speaker, 0) + 1
        right += max(counts.values(), default=0)
    return right


def word_share(call: MonoCall, hypothesis: Sequence[Labelled]) -> tuple[int, int]:
    """(words on the right speaker, words) over the hypothesis' words; a word no reference speaker is
    active at counts as wrong."""
    mapping = _mapping(call, hypothesis)
    right = total = 0
    for h in hypothesis:
        for a, b in h.words or ((h.start, h.end),):
            mid = (a + b) / 2
            active = {s.speaker for s in call.segments if s.start - 0.15 <= mid <= s.end + 0.15}
            total += 1
            right += int(mapping.get(h.label) in active)
    return right, total


def offline(calls: Sequence[MonoCall], embedders: Sequence[str], config: DiarizationConfig) -> None:
    import torch

    torch.set_num_threads(1)
    rows = []
    for name in embedders:
        embedder = load_embedder(name)
        for call in calls:
            tracker = SpeakerTracker(config, standardize=embedder.standardize)
            began, online = time.perf_counter(), []
            for s in call.segments:
                audio = call.audio[int(s.start * RATE) : int(s.end * RATE)].astype(np.float32) / np.float32(32768)
                e = embedder.embed(audio)
                online.append(Labelled(s.start, s.end, tracker.assign(e.vector, e.seconds).label, _fake_words(s)))
            cost = (time.perf_counter() - began) / len(call.segments)
            final_labels = recluster(tracker.vectors, tracker.seconds, tracker.labels, config, embedder.standardize)
            final = [Labelled(h.start, h.end, lab, h.words) for h, lab in zip(online, final_labels, strict=True)]
            for stage, hyp in (("online", online), ("reclustered", final)):
                rows.append(_scores(name, call, stage, hyp, ms_per_utt=cost * 1000))
    _report(pd.DataFrame(rows))


def _scores(name: str, call: MonoCall, stage: str, hyp: Sequence[Labelled], **extra: float) -> dict[str, object]:
    """One row of the report: a call's labels at one stage, scored."""
    right, total = word_share(call, hyp)
    return {
        "embedder": name,
        "call": call.name,
        "kind": call.kind,
        "stage": stage,
        "speakers": len(call.speakers),
        "found": len({h.label for h in hyp}),
        "der": der(call, hyp),
        "words_right": right,
        "words": total,
        "pure": purity(call, hyp),
        **extra,
    }


def _fake_words(s: Segment) -> tuple[tuple[float, float], ...]:
    """The reference turn's words spread evenly over it (offline: no recogniser)."""
    count = max(1, len(s.text.split()) if s.text else round((s.end - s.start) * 2.5))
    step = (s.end - s.start) / count
    return tuple((s.start + i * step, s.start + (i + 1) * step) for i in range(count))


def _report(frame: pd.DataFrame) -> None:
    frame["group"] = frame["kind"] + np.where(frame["speakers"] > 2, "_3spk", "_2spk")
    summary = frame.groupby(["embedder", "stage", "group"]).agg(
        calls=("call", "count"),
        der=("der", "mean"),
        words_right=("words_right", "sum"),
        words=("words", "sum"),
        pure=("pure", "sum"),
        found_right=("found", lambda f: 0),
        ms_per_utt=("ms_per_utt", "mean"),
    )
    summary["word_share"] = summary["words_right"] / summary["words"]
    summary["ceiling"] = summary["pure"] / summary["words"]  # the share if every final had its majority label
    counts = frame.assign(ok=frame["found"] == frame["speakers"]).groupby(["embedder", "stage", "group"])["ok"].sum()
    summary["count_right"] = counts
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary.drop(columns=["found_right"]).round(3).to_string())
    if "role_right" in frame:
        print(frame.groupby(["embedder", "stage"])["role_right"].agg(["sum", "count"]).to_string())


async def _stream(url: str, call: MonoCall) -> tuple[list[dict[str, object]], str]:
    from audiohook_server.client.session import stream_audio

    result = await stream_audio(url, call.audio, api_key=KEY, speed=0, close_timeout=600.0)
    if not result.ok:
        raise RuntimeError(f"{call.name}: the stream failed: {result.errors} (close {result.close_code})")
    return result.finals, result.session_id


def _role_right(call: MonoCall, final: Sequence[Labelled], table: pd.DataFrame) -> bool:
    """After the call: the label that is the reference agent (optimal mapping) is called agent in the
    CSV, and the reference customer's label customer (majority of their rows)."""
    mapping = _mapping(call, final)
    for role in ("agent", "customer"):
        labels = {label for label, speaker in mapping.items() if call.roles.get(speaker) == role}
        rows = table[table["speaker_id"].isin(labels)]
        if not len(rows) or (rows["speaker"] == role).mean() <= 0.5:
            return False
    return True


def through_server(calls: Sequence[MonoCall], embedders: Sequence[str], extra: Sequence[str]) -> None:
    rows = []
    for name in embedders:
        with tempfile.TemporaryDirectory() as work:
            recordings = Path(work)
            # As fast as it takes the audio: no bound on the speech waiting for Whisper (the bench waits).
            args = ["--diarization", "auto", "--speaker-embedder", name, "--max-queued-final-s", "36000", *extra]
            with serve(recordings, KEY, None, args, timeout_s=300) as server:
                url = f"ws://127.0.0.1:{server.port}/audiohook"
                for call in calls:
                    began = time.monotonic()
                    finals, session_id = asyncio.run(_stream(url, call))
                    wall = time.monotonic() - began
                    online = [
                        Labelled(
                            float(f["start"]),  # type: ignore[arg-type]
                            float(f["end"]),  # type: ignore[arg-type]
                            str(f.get("speaker_id") or f.get("speaker")),
                            tuple((float(w["start"]), float(w["end"])) for w in f.get("words", [])),  # type: ignore[attr-defined]
                        )
                        for f in finals
                    ]
                    table = pd.read_csv(recordings / f"{session_id}.csv", keep_default_na=False)
                    assert len(table) == len(online), "one CSV row per final"
                    final = [
                        Labelled(h.start, h.end, str(r["speaker_id"] or r["speaker"]), h.words)
                        for h, (_, r) in zip(online, table.iterrows(), strict=True)
                    ]
                    role_right = _role_right(call, final, table) if call.roles else None
                    for stage, hyp in (("online", online), ("reclustered", final)):
                        scores = _scores(name, call, stage, hyp, ms_per_utt=float("nan"), wall_s=wall)
                        rows.append({**scores, "role_right": role_right})
                    print(f"  {name} {call.name}: {len(finals)} finals, {wall:.1f} s", flush=True)
                cost = _metric(server.port, "audiohook_diarization_seconds")
                print(f"{name}: diarization cost {cost}")
    _report(pd.DataFrame(rows))


def _metric(port: int, name: str) -> str:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    total = re.search(rf"^{name}_sum (\S+)", text, re.M)
    count = re.search(rf"^{name}_count (\S+)", text, re.M)
    if not total or not count or float(count.group(1)) == 0:
        return "n/a"
    return (
        f"{float(total.group(1)) / float(count.group(1)) * 1000:.1f} ms per utterance over {int(float(count.group(1)))}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--offline", action="store_true")
    parser.add_argument("--real", type=int, default=20)
    parser.add_argument("--scripted", type=int, default=12)
    parser.add_argument("--split", default="test", help="which labelled scripts to speak (dev: for tuning)")
    parser.add_argument("--seed", type=int, default=1000, help="the real calls' draw (0: the one tuned on)")
    parser.add_argument("--embedders", default="ge2e,mfcc")
    parser.add_argument("server_args", nargs="*")
    args = parser.parse_args()
    print(machine())
    calls = real_calls(args.real, args.seed) + real_conversation() + scripted_calls(args.scripted, args.split)
    embedders = args.embedders.split(",")
    print(f"{len(calls)} calls, {sum(len(c.audio) for c in calls) / RATE / 60:.1f} min of audio")
    if args.offline:
        offline(calls, embedders, DiarizationConfig())
    else:
        through_server(calls, embedders, args.server_args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
