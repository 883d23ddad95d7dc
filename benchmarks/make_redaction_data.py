"""Render the PII-redaction evaluation set and transcribe it with the real server.

Why this exists: the redaction of card numbers, phone numbers, e-mails and the like has to work on the
text Whisper writes ("4539-1488 ...", "john.smith at gmail.com"), not on the text a script intended.
So the scripted utterances of `benchmarks/redaction_data/items.json` are spoken (Festival), half of
them squeezed through a telephone channel, and streamed through a real `audiohook-server` with its
defaults; every final it sends is kept in `benchmarks/redaction_data/transcribed.json`, where the
labels (PII spans of Whisper's text, made by hand) live beside them. See
`benchmarks/redaction_data/README.md`.

    .venv/bin/python benchmarks/make_redaction_data.py            # render + transcribe every item
    .venv/bin/python benchmarks/make_redaction_data.py --only card_number-001 clean-004
    .venv/bin/python benchmarks/make_redaction_data.py --check    # validate items and labels only

Regenerating keeps an item's labels only while its finals' texts are unchanged; an item whose text
changed gets `"labels": null` (to be labelled again) and `--check` fails until it is. Run by hand, not
in CI. Needs Festival (`text2wave`, voices cmu_us_slt_arctic_hts and kal_diphone) and sox.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.pii.numbers import luhn_valid  # noqa: E402
from audiohook_server.audio.wav_files import read_wav  # noqa: E402
from audiohook_server.client import StreamResult, stream_audio  # noqa: E402
from benchmarks.common import serve  # noqa: E402
from scripts.make_fixtures import synthesise, write_wav_pcm16  # noqa: E402

DATA = ROOT / "benchmarks" / "redaction_data"
ITEMS = DATA / "items.json"
TRANSCRIBED = DATA / "transcribed.json"
API_KEY = "redaction-data-key"
SAMPLE_RATE = 16_000
PAD_S = 0.5  # silence before the first and after the last turn
PEAK_DBFS = -3.0
SEED = 20261202

ENTITY_TYPES = (
    "CARD_NUMBER",
    "SECURITY_CODE",
    "BANK_ACCOUNT",
    "SORT_CODE",
    "PHONE_NUMBER",
    "EMAIL_ADDRESS",
    "DATE_OF_BIRTH",
    "US_SSN",
    "UK_NINO",
    "POSTCODE",
    "STREET_ADDRESS",
    "PERSON",
)
# Voices (make_fixtures.synthesise spelling): Festival's HTS voice as it is, pitched down or up with sox,
# and the older diphone voice for about a fifth of the items.
VOICE_CHOICES: tuple[tuple[str, float], ...] = (
    ("festival:cmu_us_slt_arctic_hts", 0.40),
    ("festival:cmu_us_slt_arctic_hts:-350", 0.25),
    ("festival:cmu_us_slt_arctic_hts:250", 0.15),
    ("festival:kal_diphone", 0.20),
)
# Telephone band: 300-3400 Hz, 8 kHz G.711 mu-law, then back to 16 kHz PCM16 for the simple dialect.
SOX_TELEPHONE = "sox -D {src} -r 8000 -e u-law {dst} sinc 300-3400"
SOX_BACK = "sox -D {src} -b 16 -e signed-integer {dst} rate 16000"
# An item's optional `agent` line (holdout5 on) is spoken first by another voice than the customer's, this
# long before the customer's first turn: longer than the VAD joins, so it is a final of its own.
AGENT_GAP_S = 0.8


# ----------------------------------------------------------------------------------------- checks


def check_items(items: Sequence[dict[str, Any]]) -> list[str]:
    """Problems with the scripts: schema, pauses, canonical values (Luhn for cards), unique ids."""
    problems: list[str] = []
    ids = Counter(str(item.get("id")) for item in items)
    problems += [f"duplicate id {i}" for i, n in ids.items() if n > 1]
    digit_lengths = {
        "CARD_NUMBER": (15, 16),
        "SECURITY_CODE": (3, 4),
        "BANK_ACCOUNT": tuple(range(8, 13)),
        "SORT_CODE": (6,),
        "PHONE_NUMBER": tuple(range(10, 13)),
        "US_SSN": (9,),
    }
    for item in items:
        where = str(item.get("id"))
        if item.get("split") not in ("dev", "test"):
            problems.append(f"{where}: split must be dev or test")
        if item.get("kind") not in ("pii", "clean"):
            problems.append(f"{where}: kind must be pii or clean")
        turns = item.get("turns")
        if not isinstance(turns, list) or not 1 <= len(turns) <= 2 or not all(isinstance(t, str) for t in turns):
            problems.append(f"{where}: turns must be 1-2 strings")
            continue
        if any(ch.isdigit() for t in turns for ch in t):
            problems.append(f"{where}: turns must spell numbers in words")
        agent = item.get("agent")
        if agent is not None and (not isinstance(agent, str) or not agent.strip() or any(ch.isdigit() for ch in agent)):
            problems.append(f"{where}: agent must be a line in words")
        if len(turns) == 2 and not 1.2 <= float(item.get("pause_s", 0)) <= 2.0:
            problems.append(f"{where}: two turns need pause_s in 1.2-2.0")
        entities = item.get("entities", [])
        if (item.get("kind") == "pii") != bool(entities):
            problems.append(f"{where}: pii items have entities, clean items none")
        for entity in entities:
            kind, value = entity.get("type"), str(entity.get("value", ""))
            if kind not in ENTITY_TYPES:
                problems.append(f"{where}: unknown entity type {kind}")
            if kind in digit_lengths and not (value.isdigit() and len(value) in digit_lengths[kind]):
                problems.append(f"{where}: {kind} value {value!r} must be {digit_lengths[kind]} digits")
            if kind == "CARD_NUMBER" and value.isdigit() and not luhn_valid(value):
                problems.append(f"{where}: card {value} fails the Luhn check")
            if kind == "EMAIL_ADDRESS" and value.count("@") != 1:
                problems.append(f"{where}: e-mail {value!r}")
            if kind == "DATE_OF_BIRTH" and not (len(value) == 10 and value[4] == value[7] == "-"):
                problems.append(f"{where}: date of birth {value!r} must be YYYY-MM-DD")
    return problems


def check_transcribed(items: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]]) -> list[str]:
    """Problems with the transcripts and labels: one row per item, every label an exact substring of
    the final it names, found at its `start` (character offset, which tells repeated spans apart),
    known types, no unlabelled (null) rows."""
    problems: list[str] = []
    by_id = {str(item["id"]): item for item in items}
    seen = {str(row.get("id")) for row in rows}
    problems += [f"{i}: no transcript" for i in sorted(set(by_id) - seen)]
    for row in rows:
        where = str(row.get("id"))
        item = by_id.get(where)
        if item is None:
            problems.append(f"{where}: not in items.json")
            continue
        if row.get("split") != item["split"] or row.get("kind") != item["kind"]:
            problems.append(f"{where}: split/kind differ from items.json")
        finals = row.get("finals", [])
        labels = row.get("labels")
        if labels is None:
            problems.append(f"{where}: not labelled (labels is null)")
            continue
        for label in labels:
            index, text, kind = label.get("final"), label.get("text"), label.get("type")
            if kind not in ENTITY_TYPES:
                problems.append(f"{where}: unknown label type {kind}")
            if not isinstance(index, int) or not 0 <= index < len(finals):
                problems.append(f"{where}: label final index {index} out of range")
                continue
            final_text = finals[index]["text"]
            if not isinstance(text, str) or not text or text not in final_text:
                problems.append(f"{where}: label {text!r} is not in final {index}: {final_text!r}")
                continue
            start = label.get("start")
            if not isinstance(start, int) or final_text[start : start + len(text)] != text:
                problems.append(f"{where}: label {text!r} does not start at {start} in final {index}")
    return problems


# -------------------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class Rendering:
    """How one item is spoken: the voice and whether it goes through the telephone band."""

    voice: str
    telephone: bool

    @property
    def agent_voice(self) -> str:
        """The agent's voice: never the customer's (the diphone voice against the HTS one)."""
        return "festival:cmu_us_slt_arctic_hts" if self.voice == "festival:kal_diphone" else "festival:kal_diphone"


def rendering_for(item_id: str, telephone_share: float) -> Rendering:
    """The voice and channel of an item, fixed by its id (so adding items does not reshuffle the rest)."""
    rng = random.Random(f"{SEED}:{item_id}")
    pick, acc = rng.random(), 0.0
    voice = VOICE_CHOICES[-1][0]
    for name, share in VOICE_CHOICES:
        acc += share
        if pick < acc:
            voice = name
            break
    return Rendering(voice, rng.random() < telephone_share)


def render_item(item: dict[str, Any], rendering: Rendering) -> tuple[npt.NDArray[np.int16], float]:
    """Speak the turns, lay them out (0.5 s silence, [agent line, 0.8 s,] turn, pause, turn, 0.5 s), scale to
    -3 dBFS and, for telephone items, pass the whole item through the 8 kHz mu-law band and back. Also
    returns where the agent's line ends (0.0: the item has none)."""
    with tempfile.TemporaryDirectory(prefix="redaction_") as tmp:
        work = Path(tmp)
        pad = np.zeros(round(PAD_S * SAMPLE_RATE))
        parts: list[npt.NDArray[np.float64]] = [pad]
        agent_end = 0.0
        if item.get("agent"):
            said = synthesise(str(item["agent"]), rendering.agent_voice, work, 99)
            agent_end = PAD_S + said.size / SAMPLE_RATE
            parts += [said, np.zeros(round(AGENT_GAP_S * SAMPLE_RATE))]
        for i, text in enumerate(item["turns"]):
            if i > 0:
                parts.append(np.zeros(round(float(item["pause_s"]) * SAMPLE_RATE)))
            parts.append(synthesise(text, rendering.voice, work, i))
        parts.append(pad)
        audio = np.concatenate(parts)
        audio *= 10 ** (PEAK_DBFS / 20) / max(float(np.max(np.abs(audio))), 1e-9)
        if not rendering.telephone:
            return np.asarray(np.clip(np.round(audio * 32767.0), -32768, 32767), dtype=np.int16), agent_end
        write_wav_pcm16(work / "wide.wav", audio, SAMPLE_RATE)
        for cmd in (
            SOX_TELEPHONE.format(src="wide.wav", dst="phone.wav"),
            SOX_BACK.format(src="phone.wav", dst="back.wav"),
        ):
            subprocess.run(cmd.split(), check=True, cwd=work, capture_output=True)
        samples, rate = read_wav(work / "back.wav")
        if rate != SAMPLE_RATE:
            raise RuntimeError(f"telephone round trip gave {rate} Hz")
        return np.asarray(samples, dtype=np.int16).reshape(-1), agent_end


# ------------------------------------------------------------------------------------ transcribing


def finals_of(result: StreamResult) -> list[dict[str, Any]]:
    """Every final the server sent: its text, start/end (seconds into the item) and words."""
    finals: list[dict[str, Any]] = []
    for entity in result.finals:
        words = [
            {"word": str(w.get("word", "")), "start": w.get("start"), "end": w.get("end")}
            for w in entity.get("words") or []
        ]
        finals.append(
            {
                "text": str(entity.get("value", "")).strip(),
                "start": entity.get("start"),
                "end": entity.get("end"),
                "words": words,
            }
        )
    return finals


async def transcribe_all(
    url: str, audio: dict[str, npt.NDArray[np.int16]], sessions: int, speed: float
) -> dict[str, list[dict[str, Any]]]:
    """Stream every item as its own session, `sessions` at a time."""
    gate = asyncio.Semaphore(sessions)
    done: dict[str, list[dict[str, Any]]] = {}

    async def one(item_id: str) -> None:
        async with gate:
            result = await stream_audio(url, audio[item_id], api_key=API_KEY, speed=speed, close_timeout=300)
            if not result.ok:
                raise RuntimeError(f"{item_id}: {result.outcome().ending}")
            done[item_id] = finals_of(result)
            print(f"  {item_id}: {result.final_text}", flush=True)

    await asyncio.gather(*(one(item_id) for item_id in audio))
    return done


# ------------------------------------------------------------------------------------------- main


def load(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise SystemExit(f"{path}: expected a JSON list")
    return data


def write_rows(rows: Iterable[dict[str, Any]], path: Path) -> None:
    """One item per line block: readable diffs, exact strings."""
    lines = [json.dumps(row, ensure_ascii=False) for row in rows]
    path.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")


def report(problems: list[str]) -> int:
    for problem in problems:
        print(f"problem: {problem}")
    return 1 if problems else 0


def counts(items: Sequence[dict[str, Any]]) -> str:
    """Items per entity type and split (an item with two types counts once for each)."""
    table: Counter[tuple[str, str]] = Counter()
    for item in items:
        types = {e["type"] for e in item["entities"]} or {"(clean)"}
        for kind in types:
            table[(kind, item["split"])] += 1
    out = [f"{'type':<16} {'dev':>4} {'test':>4} {'all':>4}"]
    for kind in (*ENTITY_TYPES, "(clean)"):
        dev, test = table[(kind, "dev")], table[(kind, "test")]
        out.append(f"{kind:<16} {dev:>4} {test:>4} {dev + test:>4}")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=Path, default=ITEMS)
    parser.add_argument("--out", type=Path, default=TRANSCRIBED)
    parser.add_argument("--only", nargs="*", default=None, help="item ids to (re)render; the rest are kept")
    parser.add_argument("--check", action="store_true", help="only validate items.json and the labels")
    parser.add_argument("--telephone-share", type=float, default=0.5)
    parser.add_argument("--workers", type=int, default=2, help="items synthesised at once")
    parser.add_argument("--sessions", type=int, default=2, help="concurrent server sessions")
    parser.add_argument("--speed", type=float, default=0.0, help="client pacing; 0 = as fast as the server takes")
    args = parser.parse_args()

    items = load(args.items)
    problems = check_items(items)
    if args.check:
        print(counts(items))
        existing = load(args.out) if args.out.exists() else []
        return report(problems + check_transcribed(items, existing))
    if problems:
        return report(problems)
    for binary in ("text2wave", "sox"):
        if shutil.which(binary) is None:
            raise SystemExit(
                f"`{binary}` not found (apt-get install festival festvox-us-slt-hts festvox-kallpc16k sox)"
            )

    old = {str(r["id"]): r for r in load(args.out)} if args.out.exists() else {}
    unknown = sorted(set(args.only or ()) - {str(item["id"]) for item in items})
    if unknown:
        raise SystemExit(f"unknown item id(s): {' '.join(unknown)}")
    wanted = [item for item in items if args.only is None or item["id"] in set(args.only)]
    renderings = {str(item["id"]): rendering_for(str(item["id"]), args.telephone_share) for item in wanted}

    began = time.monotonic()
    with ThreadPoolExecutor(max(1, args.workers)) as pool:
        rendered = list(pool.map(lambda item: render_item(item, renderings[str(item["id"])]), wanted))
    audio = {str(item["id"]): samples for item, (samples, _) in zip(wanted, rendered, strict=True)}
    agent_ends = {str(item["id"]): end for item, (_, end) in zip(wanted, rendered, strict=True)}
    seconds = sum(a.size for a in audio.values()) / SAMPLE_RATE
    print(f"rendered {len(audio)} items, {seconds:.0f} s of audio, in {time.monotonic() - began:.0f} s", flush=True)

    began = time.monotonic()
    # The server with its defaults; the very first start on a machine trains and caches the turn
    # classifier first, which takes minutes on two cores.
    with (
        tempfile.TemporaryDirectory(prefix="redaction_recordings_") as recordings,
        serve(Path(recordings), API_KEY, None, timeout_s=900) as server,
    ):
        url = f"ws://127.0.0.1:{server.port}/audiohook"
        finals = asyncio.run(transcribe_all(url, audio, args.sessions, args.speed))
    print(f"transcribed in {time.monotonic() - began:.0f} s", flush=True)

    rows: list[dict[str, Any]] = []
    relabel: list[str] = []
    for item in items:
        item_id = str(item["id"])
        if item_id not in finals:
            if item_id in old:
                rows.append(old[item_id])
            continue
        previous = old.get(item_id)
        texts = [f["text"] for f in finals[item_id]]
        same = previous is not None and [f["text"] for f in previous["finals"]] == texts
        labels = previous.get("labels") if same and previous is not None else None
        if labels is None:
            relabel.append(item_id)
        rendering = renderings[item_id]
        rows.append(
            {
                "id": item_id,
                "split": item["split"],
                "kind": item["kind"],
                "voice": rendering.voice,
                "telephone": rendering.telephone,
                "duration_s": round(audio[item_id].size / SAMPLE_RATE, 3),
                **({"agent_end_s": round(agent_ends[item_id], 3)} if item.get("agent") else {}),
                "finals": finals[item_id],
                "labels": labels,
            }
        )
    write_rows(rows, args.out)
    print(f"wrote {args.out} ({len(rows)} items); to label: {len(relabel)}")
    return report(check_transcribed(items, rows)) if not relabel else 0


if __name__ == "__main__":
    sys.exit(main())
