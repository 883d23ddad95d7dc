"""How well the PII redactor finds personal data in what Whisper really writes, and what it costs.

The set (`benchmarks/redaction_data/`, see its README): scripted utterances spoken by Festival voices
(half through a telephone band), streamed through the real server, and labelled on the finals' text:
every span that carries a card number, security code, bank detail, phone, e-mail, date of birth,
SSN / NI number, postcode, street address or name; plus utterances full of numbers that are not
personal data (prices, order numbers, dates of orders, times, quantities).

Each item's finals go through one `CallRedactor` in order (a number read across two finals is one
call's context), with every entity type on; where the item has its own agent line (holdout5), the finals
that start before it ends are the agent's. Scored per label and per predicted span:
- recall: a label is found when the spans of its own type cover all of its digits and at least half of
  its letters ("removed" counts spans of any type: the value is gone, whatever it was called);
- precision: a predicted span is right when it overlaps a label of its type ("any" type, overall);
- clean text: the words a span removed from an item with no label there, and the most from one.
Cost: wall time of `redact` per final, names (spaCy) included, on one thread.

    .venv/bin/python benchmarks/bench_redaction.py [--split dev|test|all] [--show-misses] [--data FILE] [--agent-asks]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.pii import CallRedactor, Entity, PersonNames, RedactedSpan, Redaction, TimedWord
from analysis.pii.tokens import tokenize
from benchmarks.common import machine

DATA = Path(__file__).parent / "redaction_data" / "transcribed.json"
TARGETS = {
    Entity.CARD_NUMBER: 0.99,
    Entity.SECURITY_CODE: 0.99,
    Entity.PHONE_NUMBER: 0.95,
    Entity.EMAIL_ADDRESS: 0.95,
}


# The agent's question for each kind of item (`--agent-asks`): the cue a real call gives the answer.
QUESTIONS = {
    "CARD_NUMBER": "Can I take the long number on the card, please?",
    "SECURITY_CODE": "And the three digits on the back of the card?",
    "BANK_ACCOUNT": "Can I have the account number?",
    "SORT_CODE": "And the sort code?",
    "PHONE_NUMBER": "What's the best number to reach you on?",
    "EMAIL_ADDRESS": "And what's your email address?",
    "DATE_OF_BIRTH": "Can you confirm your date of birth?",
    "US_SSN": "And your social security number?",
    "UK_NINO": "What's your national insurance number?",
    "POSTCODE": "And the postcode?",
    "STREET_ADDRESS": "What's the address?",
    "PERSON": "Can I take your full name?",
}


@dataclass
class Label:
    entity: str
    final: int
    start: int
    end: int


def _labels(item: dict[str, Any]) -> list[Label]:
    out: list[Label] = []
    for label in item.get("labels") or []:
        text = item["finals"][label["final"]]["text"]
        at = text.find(label["text"])
        if at < 0:
            raise ValueError(f"{item['id']}: label {label['text']!r} is not in final {label['final']}")
        out.append(Label(label["type"], label["final"], at, at + len(label["text"])))
    return out


def _covered(text: str, label: Label, spans: list[RedactedSpan]) -> bool:
    chars = [i for i in range(label.start, label.end) if text[i].isalnum()]
    if not chars:
        return False
    hit = {i for i in chars for s in spans if s.start <= i < s.end}
    digits = [i for i in chars if text[i].isdigit()]
    letters = [i for i in chars if text[i].isalpha()]
    if digits and not all(i in hit for i in digits):
        return False
    return not letters or sum(i in hit for i in letters) * 2 >= len(letters)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("dev", "test", "all"), default="dev")
    parser.add_argument("--data", type=Path, default=DATA, help="a transcribed set in the same format")
    parser.add_argument("--show-misses", action="store_true", help="print every miss and false alarm")
    parser.add_argument(
        "--agent-asks",
        action="store_true",
        help="put the agent's question before each item, as in a call (clean items get a question for personal "
        "data too, drawn at random: a harder test of precision)",
    )
    args = parser.parse_args()
    items = [i for i in json.loads(args.data.read_text(encoding="utf-8")) if args.split in ("all", i["split"])]
    if any(item.get("labels") is None for item in items):
        print("the set is not labelled yet", file=sys.stderr)
        return 2
    names = PersonNames()
    started = time.perf_counter()
    names.load()
    load_s = time.perf_counter() - started

    labels_by_type: dict[str, int] = defaultdict(int)
    found_typed: dict[str, int] = defaultdict(int)
    found_any: dict[str, int] = defaultdict(int)
    predicted: dict[str, int] = defaultdict(int)
    right_typed: dict[str, int] = defaultdict(int)
    right_any = 0
    clean_lost: list[int] = []
    costs: list[float] = []
    utterances = 0
    misses: list[str] = []
    pick = random.Random(7)
    for item in items:
        redactor = CallRedactor(names=names)
        labels = _labels(item)
        if args.agent_asks and "agent_end_s" not in item:
            asked = re.sub(r"^holdout\d+-", "", item["id"]).split("-")[0].upper()
            question = QUESTIONS.get(asked) or pick.choice(sorted(QUESTIONS.values()))
            redactor.redact(question, speaker="agent", start=-3.0, end=-0.5)
        # As the server writes them: a final ending in an open number is held for the speaker's next one,
        # which may revise it (a card read across a pause).
        redactions: list[Redaction] = []
        for final in item["finals"]:
            words = [
                TimedWord(w.get("word", w.get("text", "")), w["start"] - final["start"], w["end"] - final["start"])
                for w in final.get("words", [])
            ]
            # holdout5 on: the item's own agent line, spoken before the customer's turns, is the agent's final
            speaker = "agent" if final["start"] < item.get("agent_end_s", 0.0) else "customer"
            began = time.perf_counter()
            redaction = redactor.redact(final["text"], words, speaker=speaker, start=final["start"], end=final["end"])
            costs.append(time.perf_counter() - began)
            if redaction.revises is not None and redactions:
                redactions[-1] = redaction.revises
            redactions.append(redaction)
        for index, (final, redaction) in enumerate(zip(item["finals"], redactions, strict=True)):
            text = final["text"]
            utterances += 1
            own = [label for label in labels if label.final == index]
            spans = list(redaction.spans)
            for label in own:
                labels_by_type[label.entity] += 1
                typed = [s for s in spans if s.entity.value == label.entity]
                if _covered(text, label, typed):
                    found_typed[label.entity] += 1
                elif args.show_misses:
                    kinds = [s.entity.value for s in spans if s.start < label.end and s.end > label.start]
                    misses.append(
                        f"MISS {label.entity:14} {item['id']}: {text[label.start : label.end]!r} {kinds} | {text}"
                    )
                if _covered(text, label, spans):
                    found_any[label.entity] += 1
            for span in spans:
                predicted[span.entity.value] += 1
                overlapping = [label for label in own if label.start < span.end and label.end > span.start]
                if overlapping:
                    right_any += 1
                if any(label.entity == span.entity.value for label in overlapping):
                    right_typed[span.entity.value] += 1
                elif args.show_misses:
                    what = overlapping[0].entity if overlapping else "nothing"
                    said = text[span.start : span.end]
                    misses.append(f"FALSE {span.entity.value:13} {item['id']}: {said!r} (was {what}) | {text}")
            if not own:
                lost = sum(1 for t in tokenize(text) if any(s.start < t.end and s.end > t.start for s in spans))
                clean_lost.append(lost)

    print(f"machine: {machine()}")
    print(f"{args.data.name}, split {args.split}: {len(items)} items, {utterances} finals; spaCy in {load_s:.1f} s")
    print(f"{'entity':16} {'labels':>6} {'recall':>7} {'removed':>8} {'spans':>6} {'precision':>9}  target")
    total_labels = sum(labels_by_type.values())
    for entity in Entity:
        key = entity.value
        n, p = labels_by_type[key], predicted[key]
        recall = found_typed[key] / n if n else float("nan")
        removed = found_any[key] / n if n else float("nan")
        precision = right_typed[key] / p if p else float("nan")
        target = f">= {TARGETS[entity]:.2f}" if entity in TARGETS else ""
        print(f"{key:16} {n:6d} {recall:7.3f} {removed:8.3f} {p:6d} {precision:9.3f}  {target}")
    all_predicted = sum(predicted.values())
    print(
        f"{'overall':16} {total_labels:6d} {sum(found_typed.values()) / max(1, total_labels):7.3f} "
        f"{sum(found_any.values()) / max(1, total_labels):8.3f} {all_predicted:6d} "
        f"{sum(right_typed.values()) / max(1, all_predicted):9.3f}  precision >= 0.90 "
        f"(any type: {right_any / max(1, all_predicted):.3f})"
    )
    clean_items = [i for i in items if i["kind"] == "clean"]
    print(
        f"clean finals: {len(clean_lost)} ({len(clean_items)} clean items); words wrongly removed: {sum(clean_lost)}; "
        f"most from one final: {max(clean_lost, default=0)} (target <= 1)"
    )
    ms = sorted(c * 1000 for c in costs)
    print(
        f"cost per final: median {statistics.median(ms):.1f} ms, p95 {ms[int(len(ms) * 0.95)]:.1f} ms, "
        f"max {ms[-1]:.1f} ms (one thread, names included)"
    )
    for line in misses:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
