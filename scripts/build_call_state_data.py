"""Build ``analysis/call_state_calls.json``: the labelled calls the learned running call sentiment is trained on.

    .venv/bin/python scripts/build_call_state_data.py [--check]

Why it exists: the learned call state (``analysis.call_state_model``) is trained, on the machine and
once, from calls whose every turn an annotator labelled with the customer's state of the call
(``call_state``: negative, neutral or positive). Those labels live with the evaluation data in
``benchmarks/analysis_data/`` (the calls of ``calls/`` and ``live_calls/``), which the installed package
does not carry, so this script copies what training needs (speaker, times, text, the label) of the
rounds in ``TRAINING_ROUNDS`` into the package. Rounds after them are held out: they are how the model is
scored (``benchmarks/bench_call_outcomes.py --round N``), so they are never copied. ``--check`` exits 1
when the packaged file is not what this script would write (a test runs it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (ROOT / "benchmarks" / "analysis_data" / "calls", ROOT / "benchmarks" / "analysis_data" / "live_calls")
TARGET = ROOT / "analysis" / "call_state_calls.json"
# The labelling rounds used for training: the 12 development calls of retention, sales and collections, the
# held-out rounds 4-8 once each was scored. Round 9 is the held-out round of the learned model.
TRAINING_ROUNDS = ("dev-4", "4", "5", "6", "7", "8")


def training_calls() -> list[dict[str, Any]]:
    """The calls of ``TRAINING_ROUNDS`` whose turns carry ``call_state``, reduced to what training reads."""
    calls = []
    for directory in SOURCES:
        for path in sorted(directory.glob("*.json")):
            call = json.loads(path.read_text(encoding="utf-8"))
            if str(call.get("round")) not in TRAINING_ROUNDS:
                continue
            turns = call["turns"]
            if not turns or any("call_state" not in turn for turn in turns):
                continue
            calls.append(
                {
                    "id": call["id"],
                    "round": str(call["round"]),
                    "call_type": call.get("call_type") or "service",
                    "turns": [
                        {
                            "speaker": turn["speaker"],
                            "start": turn["start"],
                            "end": turn["end"],
                            "text": turn["text"],
                            "call_state": turn["call_state"],
                        }
                        for turn in turns
                    ],
                }
            )
    return calls


def render(calls: list[dict[str, Any]]) -> str:
    """The file's text: one call per line, so a diff shows which call changed."""
    lines = ",\n".join(json.dumps(call, ensure_ascii=False) for call in calls)
    return f"[\n{lines}\n]\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the packaged file is out of date")
    args = parser.parse_args(argv)
    text = render(training_calls())
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.is_file() else ""
        if current != text:
            print(f"{TARGET} is out of date: run scripts/build_call_state_data.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    calls = json.loads(text)
    print(f"{TARGET}: {len(calls)} calls, {sum(len(c['turns']) for c in calls)} turns")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
