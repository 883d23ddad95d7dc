"""The timed ground-truth set for conversation dynamics: eight scripted stereo calls with known overtalk,
interruptions, silences and holds.

Why it exists: the server's conversation dynamics (talk time, overtalk, interruptions, dead air, longest
silence, hold, speech rate, response latency; the ``dynamics`` object of ``<session>.summary.json``) are
measured on audio, and nothing in the labelled analytics calls says *when* anyone spoke over anyone. Here
every turn is written with its timing, so the truth is known to the frame: each turn is
``(speaker, text, offset_s)`` where ``offset_s`` is when the turn starts after the end of the speech so far
(the latest end of any earlier turn; for an ordinary turn, the previous one's end). A negative offset starts
the turn while the other side is still talking (an interruption, or a back-channel like "yeah" laid inside
the other's turn); a long one is a silence. An agent turn may put the call on hold (``"silence"`` or
``"music"``) until the agent's next turn.

Each call is spoken by Festival (``scripts/make_fixtures.FESTIVAL_VOICES``; customer on channel 0,
"external", agent on channel 1, "internal"), placed by ``scripts/make_fixtures.render_timed_call`` and
measured there from the placed clips (speech = 20 ms frames within 40 dB of a clip's loudest). Renders are
cached under ``default_cache_root() / "bench-dynamics"``, keyed by a hash of the script, the voices and the
renderer's settings. Offline tooling for ``benchmarks/bench_dynamics.py``; nothing here is installed.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.model_cache import default_cache_root, text_sha256  # noqa: E402
from audiohook_server.audio.wav_files import read_wav  # noqa: E402
from scripts import make_fixtures  # noqa: E402
from scripts.make_fixtures import FESTIVAL_VOICES, TimedTurn, render_timed_call  # noqa: E402

CACHE = default_cache_root() / "bench-dynamics"
# Bumped when the renderer changes in a way the script's hash cannot see.
RENDER_VERSION = 1

# (speaker, text, offset_s) or (speaker, text, offset_s, hold kind)
Script = list[tuple[str, str, float] | tuple[str, str, float, str]]


@dataclass(frozen=True)
class DynamicsCall:
    """One scripted call: an id, what it exercises, and its timed turns."""

    id: str
    description: str
    turns: tuple[TimedTurn, ...]


@dataclass(frozen=True)
class Overlap:
    """Both sides speaking at once: who started second (``by``) over whom (``of``)."""

    start: float
    end: float
    duration_s: float
    by: str
    of: str
    backchannel: bool
    interruption: bool


@dataclass(frozen=True)
class Silence:
    """Nobody speaking, between the first speech and the last; ``hold`` when it lies within a hold."""

    start: float
    end: float
    duration_s: float
    hold: bool


@dataclass(frozen=True)
class SpeakerTruth:
    talk_s: float
    words: int
    speech_rate_wpm: float
    turns: int
    interruptions: int


@dataclass(frozen=True)
class DynamicsTruth:
    """What the rendered call's audio holds, measured from the placed clips (seconds from the file's start)."""

    duration_s: float
    speakers: dict[str, SpeakerTruth]
    overlaps: list[Overlap]
    overtalk_s: float
    overtalk_count: int
    interruptions: int
    silences: list[Silence]
    longest_silence_s: float
    longest_silence_start: float
    dead_air_s: float
    holds: list[tuple[float, float]]
    hold_s: float
    response_latencies: list[float]
    turns: list[dict[str, Any]]

    @property
    def mean_latency_s(self) -> float | None:
        return sum(self.response_latencies) / len(self.response_latencies) if self.response_latencies else None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> DynamicsTruth:
        keep = ("start", "end", "duration_s", "by", "of", "backchannel", "interruption")
        return cls(
            duration_s=float(raw["duration_s"]),
            speakers={name: SpeakerTruth(**values) for name, values in raw["speakers"].items()},
            overlaps=[Overlap(**{k: o[k] for k in keep}) for o in raw["overlaps"]],
            overtalk_s=float(raw["overtalk_s"]),
            overtalk_count=int(raw["overtalk_count"]),
            interruptions=int(raw["interruptions"]),
            silences=[Silence(**s) for s in raw["silences"]],
            longest_silence_s=float(raw["longest_silence_s"]),
            longest_silence_start=float(raw["longest_silence_start"]),
            dead_air_s=float(raw["dead_air_s"]),
            holds=[(float(h["start"]), float(h["end"])) for h in raw["holds"]],
            hold_s=float(raw["hold_s"]),
            response_latencies=[float(x) for x in raw["response_latencies"]],
            turns=list(raw["turns"]),
        )


def _call(call_id: str, description: str, script: Script) -> DynamicsCall:
    turns = tuple(TimedTurn(row[0], row[1], row[2], row[3] if len(row) == 4 else None) for row in script)
    return DynamicsCall(call_id, description, turns)


C, A = "customer", "agent"

CALLS: tuple[DynamicsCall, ...] = (
    _call(
        "dyn_customer_interrupts",
        "A billing dispute: the customer cuts the agent off twice (1.2 s and 0.6 s) and goes quiet for 4 s.",
        [
            (A, "Thank you for calling Northwind Energy, this is Sam. How can I help you today?", 0.0),
            (C, "Hi Sam. My bill this month is almost twice what it normally is.", 0.8),
            (A, "I am sorry to hear that. Let me explain how the estimated readings on your account work.", 0.7),
            (C, "No, I do not want estimates, I sent you a meter reading last week.", -1.2),
            (A, "I understand. Can you give me the reading you sent us?", 0.6),
            (C, "Hold on, I need to find it.", 0.9),
            (C, "It is four two seven one nine.", 4.0),
            (A, "Thank you. That reading is lower than our estimate, so your bill will come down.", 0.8),
            (A, "I will send you a corrected bill by email within two working days, and the", 0.7),
            (C, "And the extra money comes back to my account?", -0.6),
            (A, "Yes, the difference will be credited to your account.", 0.5),
            (C, "Good. Thank you.", 0.9),
            (A, "You are welcome. Is there anything else I can help you with?", 0.6),
            (C, "No, that is all. Goodbye.", 1.0),
        ],
    ),
    _call(
        "dyn_agent_interrupts",
        "A talkative customer: the agent breaks in twice (0.8 s and 2.0 s); the customer says 'right' over the agent.",
        [
            (A, "Good morning, you are through to Harbor Bank, my name is Alex.", 0.0),
            (
                C,
                "Good morning. I am calling because my card was declined at the supermarket this morning, and "
                "then again at the petrol station, and I know there is money in the account.",
                0.9,
            ),
            (A, "I can check that for you right away. Can I take your full name, please?", -0.8),
            (C, "It is Maria Lopez.", 0.7),
            (A, "Thank you Maria. I can see two payments were blocked by our fraud checks.", 0.8),
            (C, "Right.", -1.5),
            (
                C,
                "That is strange, because I use that supermarket every single week and I have never had a "
                "problem there before, not once in five years.",
                0.6,
            ),
            (A, "I understand. The petrol station payment looked unusual, so both were held.", -2.0),
            (C, "Okay. Can you unblock the card?", 0.8),
            (A, "Yes. I have removed the block, and the card will work again in a few minutes.", 0.9),
            (C, "Thank you so much.", 0.5),
            (A, "You are welcome. Have a good day.", 0.7),
        ],
    ),
    _call(
        "dyn_backchannels",
        "Long explanations with short back-channels ('yeah', 'right', 'okay', 'mm-hm') from the listener, "
        "and a 3.5 s pause.",
        [
            (A, "Hello, this is Jordan at Summit Insurance. How can I help?", 0.0),
            (
                C,
                "Hi. I had a small accident in a car park yesterday, another car reversed into my door while "
                "I was parked, and I want to make a claim.",
                0.8,
            ),
            (A, "Mm-hm.", -2.2),
            (A, "I am sorry to hear that. Was anyone hurt?", 0.7),
            (C, "No, nobody was hurt.", 0.6),
            (
                A,
                "Good. I will open a claim now. I will need the other driver's details, a few photos of the "
                "damage, and the time and place it happened.",
                0.9,
            ),
            (C, "Yeah.", -3.0),
            (C, "Right.", -1.0),
            (C, "I have the photos on my phone.", 0.8),
            (A, "Okay.", -0.9),
            (A, "Great. Can you send them to the email address I will text you?", 0.6),
            (C, "Yes, I can do that.", 0.7),
            (A, "Thank you. Your claim number is in the text as well.", 3.5),
            (C, "Perfect, thanks.", 0.8),
        ],
    ),
    _call(
        "dyn_dead_air",
        "The agent looks things up without a hold: silences of 5, 8 and 12 s with nobody talking.",
        [
            (A, "Thanks for calling Metro Rail lost property, this is Chris.", 0.0),
            (C, "Hello. I left my backpack on the train to the airport on Monday evening.", 0.8),
            (A, "Okay. What colour is the backpack?", 0.7),
            (C, "It is dark blue with a red zip.", 0.6),
            (A, "Let me look that up.", 0.9),
            (A, "I have two blue backpacks from Monday.", 8.0),
            (A, "Was there a laptop in it?", 0.7),
            (C, "Yes, a silver laptop and a notebook.", 0.8),
            (A, "Okay, one moment.", 0.6),
            (A, "Yes, I think we have it. It is at the central station office.", 12.0),
            (C, "Oh, that is great news.", 0.7),
            (C, "Sorry, when is the office open?", 5.0),
            (A, "It is open every day from eight until six.", 0.9),
            (C, "Thank you so much, goodbye.", 0.7),
        ],
    ),
    _call(
        "dyn_hold_silent",
        "The agent puts the customer on hold for 30 s of silence, then thanks them for holding.",
        [
            (A, "Welcome to Clearline Mobile, my name is Priya. How can I help you?", 0.0),
            (C, "Hi Priya. I was charged for roaming, but I never left the country.", 0.9),
            (A, "I am sorry about that. Can I have your phone number, please?", 0.7),
            (C, "Yes, it is oh seven seven double four, one two three.", 0.6),
            (A, "Thank you. Let me put you on hold for a moment while I check the charges.", 0.8, "silence"),
            (A, "Thanks for holding. I can see the roaming charge, and it was a mistake on our side.", 30.0),
            (C, "Okay, so can you remove it?", 0.7),
            (A, "Yes, I have removed it, and you will see the refund on your next bill.", 0.9),
            (C, "Brilliant. Thanks.", 0.6),
            (A, "Is there anything else I can do for you today?", 0.8),
            (C, "No, that is everything.", 0.5),
            (A, "Thanks for calling Clearline. Goodbye.", 0.7),
        ],
    ),
    _call(
        "dyn_hold_music",
        "The agent puts the customer on hold with quiet music on the agent channel for 25 s, then returns.",
        [
            (A, "Good afternoon, Greenleaf Furniture, Tom speaking.", 0.0),
            (C, "Hello. My sofa was supposed to arrive today, but nobody has come.", 0.8),
            (A, "I am sorry about that. What is your order number?", 0.6),
            (C, "It is five five eight one two.", 0.9),
            (A, "Thank you. Let me put you on hold for a moment while I call the driver.", 0.7, "music"),
            (A, "Thanks for holding. The driver is running late, and he will be with you by four o'clock.", 25.0),
            (C, "Four o'clock? I have been waiting since eight this morning.", 0.8),
            (A, "I understand, and I am sorry. I will add a twenty pound credit to your account.", 0.6),
            (C, "Okay, thank you.", 0.9),
            (A, "You are welcome. Is there anything else?", 0.7),
            (C, "No, thanks. Bye.", 0.5),
        ],
    ),
    _call(
        "dyn_heated",
        "An angry customer: interruptions both ways, the shortest (0.4 s) and the longest (2.5 s), a 6 s silence.",
        [
            (A, "Thank you for calling Apex Broadband, this is Dana.", 0.0),
            (C, "My internet has been down for three days and nobody at your company seems to care.", 0.7),
            (A, "I am really sorry. Let me check if there is a fault in your area.", 0.6),
            (
                C,
                "There is a fault, I have called four times already, and every time someone tells me it will "
                "be fixed tomorrow.",
                -0.4,
            ),
            (A, "I can see the fault now, and an engineer is booked for tomorrow morning.", -2.5),
            (C, "Tomorrow again? That is what they said yesterday.", 0.8),
            (A, "I know, and I am sorry.", 6.0),
            (A, "I will add compensation for every day without service, and I will", 0.7),
            (C, "How much compensation?", -1.0),
            (A, "Eight pounds for each day, so twenty four pounds so far.", 0.5),
            (C, "Fine. Make sure the engineer actually comes this time.", 0.9),
            (A, "I will. You will get a text with the time slot tonight.", -0.5),
            (C, "Okay. Goodbye.", 0.8),
        ],
    ),
    _call(
        "dyn_brisk",
        "A brisk, friendly call: quick replies, a 3.4 s pause, one 1.0 s overlap as both say goodbye.",
        [
            (A, "Hi, Bright Books customer service, this is Lee.", 0.0),
            (C, "Hi Lee. I would like to change the address on my order.", 0.5),
            (A, "Sure. What is the order number?", 0.6),
            (C, "Nine one four four six.", 0.5),
            (A, "Thanks. And the new address?", 0.7),
            (C, "Twelve Park Road, Leeds.", 0.5),
            (A, "Done. Your order will go to Twelve Park Road.", 3.4),
            (C, "Great. Will it still arrive on Friday?", 0.6),
            (A, "Yes, it will still arrive on Friday.", 0.5),
            (C, "Perfect, thank you.", 0.7),
            (A, "You are welcome, have a lovely day, goodbye.", 0.6),
            (C, "Thanks, you too, bye.", -1.0),
        ],
    ),
)

# Written after the corrections measured on CALLS (the 0.04 s edges, the 0.8 s split, words with no sound
# under them) and run once to check them: nothing was tuned on these. ``bench_dynamics.py --heldout``.
HELDOUT_CALLS: tuple[DynamicsCall, ...] = (
    _call(
        "held_water_leak",
        "A leak report: the customer talks over the agent's questions (0.5 s, 1.5 s), back-channels 'okay' and "
        "'right' inside two explanations, and a 5 s silence while the agent checks.",
        [
            (A, "Good afternoon, Riverside Water, my name is Priya. What can I do for you?", 0.0),
            (
                C,
                "Hello. There is water coming up through the pavement outside my house, it has been there all day.",
                0.7,
            ),
            (A, "Thank you for letting us know. Can I take the address, please?", -0.5),
            (C, "Forty one Mill Street, Bristol.", 0.6),
            (A, "Thank you. I will look at the reports we already have for Mill Street.", 0.8),
            (A, "There is one report from this morning, and a team has been asked to visit.", 5.0),
            (C, "Okay.", -2.2),
            (C, "Do you know when they will come? It is getting worse.", 0.9),
            (A, "They should be with you before six this evening, and they will call you first.", -1.5),
            (C, "Right.", -1.8),
            (A, "If the water reaches your property before then, please call us again straight away.", 1.1),
            (C, "I will. Thank you.", 0.6),
            (A, "You are welcome. Goodbye.", 0.5),
        ],
    ),
    _call(
        "held_gym_freeze",
        "A membership freeze: long customer turns with 'mm-hm' and 'yes' from the agent, an agent interruption "
        "of 2.5 s, a 3 s pause and a 0.4 s overlap at the end.",
        [
            (A, "Welcome to Peak Fitness, you are speaking with Tom.", 0.0),
            (
                C,
                "Hi Tom. I hurt my knee playing football two weeks ago, and the doctor says no exercise for at "
                "least two months, so I would like to stop paying until I can come back.",
                0.8,
            ),
            (A, "Mm-hm.", -4.0),
            (A, "I am sorry about your knee. We can freeze the membership for up to three months.", 0.7),
            (C, "That would be great. Does the freeze start today, or from my next payment date?", 0.6),
            (
                A,
                "It can start from your next payment date, which is the first of next month, so you will not be "
                "charged again until the freeze ends.",
                0.9,
            ),
            (C, "Can it start today instead, because I cannot use the gym at all now?", -2.5),
            (A, "Yes.", -1.0),
            (A, "Let me check that for you.", 0.5),
            (A, "I have set the freeze from today, and you will get an email to confirm it.", 3.0),
            (C, "Brilliant, thank you Tom.", 0.7),
            (A, "Get well soon, goodbye.", 0.5),
            (C, "Bye.", -0.4),
        ],
    ),
    _call(
        "held_parcel_hold",
        "A missing parcel: a 20 s silent hold, two quick exchanges, the customer interrupting once by 0.9 s.",
        [
            (A, "Hello, Swift Parcels, this is Dan.", 0.0),
            (C, "Hi Dan, my parcel says delivered but it is not here.", 0.6),
            (A, "I am sorry about that. Can you give me the tracking number?", 0.7),
            (C, "S P eight eight one two four.", 0.8),
            (A, "Thank you. Please hold while I check with the driver.", 0.6, "silence"),
            (A, "Thanks for holding. The driver left it with a neighbour at number twelve.", 20.0),
            (C, "Number twelve? I did not get a card or anything.", -0.9),
            (A, "I am sorry, the driver should have left a card. I will report that.", 0.6),
            (C, "Okay, I will go and ask them now.", 0.7),
            (A, "Thank you, and sorry again. Goodbye.", 0.5),
        ],
    ),
    _call(
        "held_broadband_upgrade",
        "An upgrade: brisk turns, a 1.8 s overlap as the customer cuts in about the price, a 0.3 s 'yes' over "
        "the agent, and a 6 s pause.",
        [
            (A, "Thanks for calling Lumen Broadband, this is Grace.", 0.0),
            (C, "Hi Grace, I would like a faster package please.", 0.5),
            (A, "Of course. The five hundred megabit package is thirty five pounds a month, and it includes", 0.6),
            (C, "Thirty five? I pay twenty eight now.", -1.8),
            (A, "I can offer it to you at thirty pounds for the first year.", 0.7),
            (C, "Yes.", -0.8),
            (C, "Thirty is fine, let us do that.", 0.5),
            (A, "Lovely, I will set that up now.", 0.6),
            (A, "That is done, the new speed starts tomorrow morning.", 6.0),
            (C, "Great, thanks very much.", 0.6),
            (A, "You are welcome, goodbye.", 0.5),
        ],
    ),
)


@dataclass(frozen=True)
class RenderedDynamicsCall:
    """A call as the server hears it (8 kHz stereo int16) and its measured truth."""

    call: DynamicsCall
    audio: npt.NDArray[np.int16]
    truth: DynamicsTruth
    folder: Path


def cache_key(call: DynamicsCall) -> str:
    """A hash of everything the render depends on: the script, the voices and the renderer's settings."""
    settings = [
        make_fixtures.TIMED_SPEECH_DB,
        make_fixtures.TIMED_FRAME_S,
        make_fixtures.TIMED_HOLD_MUSIC_DBFS,
        make_fixtures.TIMED_HOLD_NOTES_HZ,
        make_fixtures.LEAD_IN_S,
        make_fixtures.TAIL_S,
        make_fixtures.PEAK_DBFS,
        RENDER_VERSION,
    ]
    material = [[(t.speaker, t.text, t.offset_s, t.hold) for t in call.turns], FESTIVAL_VOICES, settings]
    return text_sha256(json.dumps(material))[:16]


def rendered(call: DynamicsCall, cache: Path = CACHE) -> RenderedDynamicsCall:
    """The call's audio and truth, rendered once into the cache."""
    folder = cache / f"{call.id}-{cache_key(call)}"
    truth_file = folder / "truth.json"
    if not truth_file.exists():
        truth = render_timed_call(call.turns, folder, stereo_name="call.wav")
        truth_file.write_text(json.dumps({"id": call.id, "description": call.description, **truth}, indent=1))
    audio, rate = read_wav(folder / "call.wav")
    if rate != 8000 or audio.ndim != 2:
        raise SystemExit(f"{folder / 'call.wav'}: expected stereo 8 kHz")
    return RenderedDynamicsCall(call, audio, DynamicsTruth.from_json(json.loads(truth_file.read_text())), folder)


def main() -> int:
    """Render every call (cached) and print its truth: ``.venv/bin/python benchmarks/dynamics_set.py``."""
    for call in CALLS:
        r = rendered(call)
        t = r.truth
        print(f"\n## {call.id} ({t.duration_s:.1f} s, {len(call.turns)} turns) -> {r.folder}")
        for turn in t.turns:
            print(
                f"  {turn['start']:7.2f}-{turn['end']:7.2f} {turn['speaker']:<8} {turn['offset_s']:+5.1f} "
                f"{turn['text']}"
            )
        for o in t.overlaps:
            kind = "interruption" if o.interruption else "back-channel" if o.backchannel else "overlap"
            print(f"  overlap {o.start:7.2f}-{o.end:7.2f} {o.duration_s:4.2f} s by {o.by} ({kind})")
        long_ = [s for s in t.silences if s.duration_s >= 2]
        print(
            "  silences >= 2 s: "
            + ", ".join(f"{s.start:.2f}+{s.duration_s:.2f}{' hold' if s.hold else ''}" for s in long_)
        )
        print(
            f"  overtalk {t.overtalk_s:.2f} s ({t.overtalk_count}, {t.interruptions} interruptions), longest silence "
            f"{t.longest_silence_s:.2f} s at {t.longest_silence_start:.2f}, dead air {t.dead_air_s:.2f}, "
            f"hold {t.hold_s:.2f}"
        )
        for name, s in t.speakers.items():
            print(
                f"  {name}: talk {s.talk_s:.2f} s, {s.words} words, {s.speech_rate_wpm:.0f} wpm, {s.interruptions} int."
            )
        print(f"  response latencies: {t.response_latencies}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
