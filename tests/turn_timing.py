"""How far finals' bounds are from the labelled turn boundaries of a fixture call.

The fixture calls' turns were rendered one clip per turn, trimmed to the speech (`scripts/make_fixtures.py`:
|sample| above 0.003 full scale, 20 ms kept either side), so a turn's `start`/`end` is where its
speech is. A final is matched to the turns of its channel it overlaps: it should start where the first
of them starts and end where the last ends (a final may hold two turns of one speaker, a turn may be
cut into several finals: those are segmentation, not timing; a cut inside a turn is not scored).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

# Issue 18: median error <= 0.1 s, max <= 0.3 s.
MEDIAN_LIMIT_S = 0.1
MAX_LIMIT_S = 0.3


@dataclass(frozen=True)
class Span:
    channel: int
    start: float
    end: float
    text: str = ""


def bound_errors(
    finals: Sequence[Span], turns: Sequence[Span], shift: Callable[[float], float] = lambda t: 0.0
) -> list[tuple[float, str]]:
    """(signed error in seconds, what it is) for every scored bound: the first final of a turn against
    the turn's start, the last against its end. `shift(t)`: stream time inserted before fixture time t
    (a pause, discarded audio). A final on no turn of its channel, or a turn without a final, is an
    error of inf."""
    placed = [Span(t.channel, t.start + shift(t.start), t.end + shift(t.start), t.text) for t in turns]
    firsts: dict[int, Span] = {}
    lasts: dict[int, Span] = {}
    errors: list[tuple[float, str]] = []
    covered: set[int] = set()
    for final in finals:
        held = [i for i, t in enumerate(placed) if t.channel == final.channel and _overlap(t, final) > 0]
        covered.update(held)
        if not held:
            errors.append((float("inf"), f"final {final.text!r} at {final.start:.2f}-{final.end:.2f} is on no turn"))
            continue
        first, last = held[0], held[-1]
        if first not in firsts or final.start < firsts[first].start:
            firsts[first] = final
        if last not in lasts or final.end > lasts[last].end:
            lasts[last] = final
    errors.extend(
        (float("inf"), f"turn {i} {t.text[:30]!r} has no final") for i, t in enumerate(placed) if i not in covered
    )
    for i, final in firsts.items():
        errors.append((final.start - placed[i].start, f"start of turn {i} {placed[i].text[:30]!r}"))
    for i, final in lasts.items():
        errors.append((final.end - placed[i].end, f"end of turn {i} {placed[i].text[:30]!r}"))
    return errors


def timing_problems(errors: list[tuple[float, str]]) -> list[str]:
    """What breaks the limits (empty: within them)."""
    problems = [f"{what}: {error:+.3f} s" for error, what in errors if not abs(error) <= MAX_LIMIT_S]
    sizes = [abs(error) for error, _ in errors]
    if not errors:
        problems.append("nothing was scored")
    if sizes and statistics.median(sizes) > MEDIAN_LIMIT_S:
        problems.append(f"median error {statistics.median(sizes):.3f} s")
    return problems


def summary(errors: list[tuple[float, str]]) -> str:
    sizes = [abs(error) for error, _ in errors]
    return f"{len(sizes)} bounds: median {statistics.median(sizes):.3f} s, max {max(sizes):.3f} s"


def words_span_the_final(words: Sequence[dict[str, Any]], start: float, end: float) -> bool:
    """A final's words (`start`/`end` each, as the simple, JWT and HTTP doors send them) run from its
    start to its end, in order, all inside it (to the millisecond the doors round to)."""
    if not words:
        return False
    inside = all(start - 0.0015 <= w["start"] <= w["end"] <= end + 0.0015 for w in words)
    ordered = all(a["start"] <= b["start"] for a, b in pairwise(words))
    return inside and ordered and abs(words[0]["start"] - start) <= 0.0015 and abs(words[-1]["end"] - end) <= 0.0015


CHANNEL_IDS = {"external": 0, "internal": 1}  # the fixture WAVs' columns, and a Genesys session's order


def labelled_spans(call: dict[str, Any]) -> list[Span]:
    """A fixture `call.json`'s turns (their `channel` is external/internal)."""
    return [Span(CHANNEL_IDS[t["channel"]], float(t["start"]), float(t["end"]), t["text"]) for t in call["turns"]]


def csv_spans(rows: Sequence[Mapping[Any, Any]]) -> list[Span]:
    """A session CSV's utterance rows (its `channel` column names the Genesys channel)."""
    return [Span(CHANNEL_IDS[r["channel"]], float(r["start"]), float(r["end"]), str(r["text"])) for r in rows]


def _overlap(a: Span, b: Span) -> float:
    return min(a.end, b.end) - max(a.start, b.start)
