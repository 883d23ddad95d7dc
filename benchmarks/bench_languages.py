"""Languages end to end: one scripted support call in five languages, streamed through the real server.

    .venv/bin/python benchmarks/bench_languages.py [--speed 0] [--languages en,de,es,fr,it,it-festival]
                                                   [--named] [-- server flags...]

The same eight-turn call (an order lost, an apology, a replacement, thanks) is written in English,
German, Spanish, French and Italian (`SCRIPT`), spoken by the voices Debian ships (espeak-ng for every
language; Festival's Italian diphone voices as `it-festival`: espeak's voices are far from human, and
Whisper hears Festival's Italian much better), made a stereo telephone call (8 kHz mu-law, customer
on channel 0, agent on channel 1) and streamed as a signed Genesys AudioHook session with no language
(auto-detected; `--named` also runs each call with its language named in `open`) to
`audiohook-server`, started as a subprocess with its defaults (tiny.en for English, base for the rest).

What it prints, per call: the language decided for each channel (summary JSON) and the share of CSV
rows transcribed in the right language (language-ID accuracy), the WER of the CSV against the script
(per language, Unicode-aware normalisation), the analysis of the translated call against the
analysis of the English call (per-turn sentiment agreement, call sentiment, agent score, outcome),
the wall time, and the server's RSS after all calls beside that of a server with
`--multilingual-model none`. Needs espeak-ng, festival, festvox-italp16k, festvox-itapc16k and sox
(Debian packages). Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audiohook_server.client.genesys import GenesysClient, media_offer  # noqa: E402
from benchmarks.common import machine, serve  # noqa: E402

KEY = "bench-languages"
SECRET = b"bench-languages-secret-0123456789"
RATE = 8000
GAP_S = 0.8
# (speaker, text) per language; the agent is "a", the customer "c".
SPEAKERS = ("a", "c", "a", "c", "a", "c", "a", "c")
SCRIPT: dict[str, tuple[str, ...]] = {
    "en": (
        "Thank you for calling Acme support, my name is Anna. How can I help you today?",
        "Hello. My order has not arrived yet and I am very unhappy about it.",
        "I am very sorry to hear that. Can you give me your order number, please?",
        "Yes, the number is four five six seven.",
        "Thank you. I can see the package was lost. I will send you a new one today at no cost.",
        "That is great, thank you very much for your help.",
        "You are welcome. Is there anything else I can do for you?",
        "No, that is all. Goodbye.",
    ),
    "de": (
        "Vielen Dank für Ihren Anruf beim Acme Kundendienst, mein Name ist Anna. Wie kann ich Ihnen heute helfen?",
        "Hallo. Meine Bestellung ist noch nicht angekommen und ich bin sehr unzufrieden damit.",
        "Das tut mir sehr leid. Können Sie mir bitte Ihre Bestellnummer geben?",
        "Ja, die Nummer ist vier fünf sechs sieben.",
        "Danke. Ich sehe, dass das Paket verloren gegangen ist. Ich schicke Ihnen heute kostenlos ein neues.",
        "Das ist toll, vielen Dank für Ihre Hilfe.",
        "Gern geschehen. Kann ich sonst noch etwas für Sie tun?",
        "Nein, das ist alles. Auf Wiedersehen.",
    ),
    "es": (
        "Gracias por llamar al servicio de atención de Acme, me llamo Anna. ¿En qué puedo ayudarle hoy?",
        "Hola. Mi pedido todavía no ha llegado y estoy muy descontento.",
        "Lo siento mucho. ¿Puede darme su número de pedido, por favor?",
        "Sí, el número es cuatro cinco seis siete.",
        "Gracias. Veo que el paquete se perdió. Hoy le enviaré uno nuevo sin ningún coste.",
        "Eso es estupendo, muchas gracias por su ayuda.",
        "De nada. ¿Hay algo más que pueda hacer por usted?",
        "No, eso es todo. Adiós.",
    ),
    "fr": (
        "Merci d'avoir appelé le service client Acme, je m'appelle Anna. Comment puis-je vous aider aujourd'hui?",
        "Bonjour. Ma commande n'est pas encore arrivée et je suis très mécontent.",
        "Je suis vraiment désolée. Pouvez-vous me donner votre numéro de commande, s'il vous plaît?",
        "Oui, le numéro est quatre cinq six sept.",
        "Merci. Je vois que le colis a été perdu. Je vous en envoie un nouveau aujourd'hui, sans frais.",
        "C'est parfait, merci beaucoup pour votre aide.",
        "Je vous en prie. Puis-je faire autre chose pour vous?",
        "Non, c'est tout. Au revoir.",
    ),
    "it": (
        "Grazie per aver chiamato l'assistenza Acme, mi chiamo Anna. Come posso aiutarla oggi?",
        "Buongiorno. Il mio ordine non è ancora arrivato e sono molto scontento.",
        "Mi dispiace molto. Può darmi il numero dell'ordine, per favore?",
        "Sì, il numero è quattro cinque sei sette.",
        "Grazie. Vedo che il pacco è andato perso. Le spedisco oggi un pacco nuovo senza alcun costo.",
        "Perfetto, grazie mille per il suo aiuto.",
        "Prego. Posso fare qualcos'altro per lei?",
        "No, è tutto. Arrivederci.",
    ),
}
# Genesys tags for --named.
TAGS = {"en": "en-US", "de": "de-DE", "es": "es-ES", "fr": "fr-FR", "it": "it-IT"}


def _sox_to_8k(wav: bytes) -> npt.NDArray[np.int16]:
    command = ["sox", "-t", "wav", "-", "-r", str(RATE), "-c", "1", "-b", "16", "-t", "raw", "-", "sinc", "300-3400"]
    raw = subprocess.run(command, input=wav, capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.int16)


def espeak(language: str, text: str, agent: bool) -> npt.NDArray[np.int16]:
    voice = f"{language}+{'f3' if agent else 'm3'}"
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "--stdout", text], capture_output=True, check=True)
    return _sox_to_8k(wav.stdout)


def festival_italian(text: str, agent: bool) -> npt.NDArray[np.int16]:
    voice = "(voice_lp_diphone)" if agent else "(voice_pc_diphone)"
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "turn.wav"
        subprocess.run(["text2wave", "-eval", voice, "-o", str(out)], input=text.encode("latin-1"), check=True)
        return _sox_to_8k(out.read_bytes())


def render(name: str) -> tuple[npt.NDArray[np.int16], str]:
    """The call spoken in `name` (a language, or it-festival): stereo int16 at 8 kHz, and its language."""
    language = name.split("-")[0]
    pieces: list[tuple[int, npt.NDArray[np.int16]]] = []
    for speaker, text in zip(SPEAKERS, SCRIPT[language], strict=True):
        agent = speaker == "a"
        audio = festival_italian(text, agent) if name == "it-festival" else espeak(language, text, agent)
        pieces.append((1 if agent else 0, audio))
    gap = int(GAP_S * RATE)
    total = sum(len(audio) + gap for _, audio in pieces) + gap
    call = np.zeros((total, 2), dtype=np.int16)
    at = gap
    for channel, audio in pieces:
        call[at : at + len(audio), channel] = audio
        at += len(audio) + gap
    return call, language


def normalise(text: str) -> list[str]:
    """Lowercase, accents kept, punctuation dropped (Unicode-aware, for every language)."""
    text = unicodedata.normalize("NFC", text.lower()).replace("'", " ").replace("\u2019", " ")
    return re.sub(r"[^\w\s]", " ", text).split()


def wer(reference: Sequence[str], hypothesis: Sequence[str]) -> float:
    import jiwer

    refs = [" ".join(normalise(r)) for r in reference]
    hyps = [" ".join(normalise(h)) or "<empty>" for h in hypothesis]
    return float(jiwer.wer(refs, hyps))


@dataclass(frozen=True)
class CallResult:
    name: str
    language: str
    named: bool
    wall_s: float
    rows: list[dict[str, object]]
    summary: dict[str, object]
    inference: dict[str, tuple[int, float]]  # Whisper work for this call: kind -> (passes, seconds)

    def channel_text(self, speaker: str) -> str:
        return " ".join(str(r["text"]) for r in self.rows if r["speaker"] == speaker)

    def script_text(self, speaker: str) -> str:
        who = "a" if speaker == "agent" else "c"
        return " ".join(t for s, t in zip(SPEAKERS, SCRIPT[self.language], strict=True) if s == who)


async def stream(url: str, audio: npt.NDArray[np.int16], recordings: Path, speed: float, tag: str | None) -> str:
    client = GenesysClient(url, KEY, SECRET)
    await client.connect()
    await client.open(media=[media_offer(["external", "internal"])], language=tag)
    client.start_pinging()
    await client.stream(audio, fmt="PCMU", frame_ms=200, speed=speed)
    await client.close(timeout=300)
    await client.aclose()
    assert client.session_id is not None
    return client.session_id


def read_call(recordings: Path, session_id: str) -> tuple[list[dict[str, object]], dict[str, object]]:
    csv_path = recordings / f"{session_id}.csv"
    summary_path = csv_path.with_suffix(".summary.json")
    deadline = time.monotonic() + 30
    while not summary_path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    frame = pd.read_csv(csv_path, keep_default_na=False)
    rows: list[dict[str, object]] = [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]
    return rows, json.loads(summary_path.read_text())


def inference_totals(port: int) -> dict[str, tuple[int, float]]:
    """The server's Whisper work so far, from /metrics: kind (final, partial, detect, translate) ->
    (passes, seconds)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    totals: dict[str, list[float]] = {}
    for match in re.finditer(r'^audiohook_whisper_inference_seconds_(count|sum)\{kind="(\w+)"\} (\S+)$', text, re.M):
        field, kind, value = match.groups()
        totals.setdefault(kind, [0.0, 0.0])[0 if field == "count" else 1] = float(value)
    return {kind: (int(count), seconds) for kind, (count, seconds) in totals.items()}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_calls(
    names: Sequence[str], named: bool, speed: float, extra: Sequence[str]
) -> tuple[list[CallResult], float, float]:
    """Every call through one server: the results, the server's start-up time and its RSS after them."""
    rendered = {name: render(name) for name in names}
    results: list[CallResult] = []
    with tempfile.TemporaryDirectory() as scratch:
        recordings = Path(scratch)
        with serve(recordings, KEY, SECRET, ["--dialect", "genesys", *extra]) as server:
            url = f"ws://127.0.0.1:{server.port}/audiohook"
            for name in names:
                audio, language = rendered[name]
                for as_named in (False, True) if named else (False,):
                    before = inference_totals(server.port)
                    began = time.monotonic()
                    tag = TAGS[language] if as_named else None
                    session_id = asyncio.run(stream(url, audio, recordings, speed, tag))
                    rows, summary = read_call(recordings, session_id)
                    wall = time.monotonic() - began
                    after = inference_totals(server.port)
                    work = {
                        kind: (count - before.get(kind, (0, 0.0))[0], seconds - before.get(kind, (0, 0.0))[1])
                        for kind, (count, seconds) in after.items()
                    }
                    spoken = [r for r in rows if r["speaker"] in ("agent", "customer")]
                    results.append(CallResult(name, language, as_named, wall, spoken, summary, work))
            rss = rss_mb(server.process.pid)
            ready = server.ready_s
    return results, ready, rss


def sentiment_agreement(call: CallResult, english: CallResult) -> str:
    """Rows' sentiment in the same order as the English call's (turn by turn, while both have rows)."""
    mine = [str(r["utterance_sentiment"]) for r in call.rows]
    theirs = [str(r["utterance_sentiment"]) for r in english.rows]
    pairs = list(zip(mine, theirs, strict=False))
    same = sum(a == b for a, b in pairs)
    return f"{same}/{len(pairs)}" + ("" if len(mine) == len(theirs) else f" ({len(mine)} vs {len(theirs)} rows)")


def call_view(result: CallResult) -> dict[str, object]:
    analysis = result.summary.get("analysis", {})
    assert isinstance(analysis, dict)
    return {
        "sentiment": analysis.get("sentiment"),
        "agent_score": analysis.get("agent_score"),
        "outcome": result.summary.get("outcome") or "-",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=0.0, help="0: as fast as the server takes it")
    parser.add_argument("--languages", default="en,de,es,fr,it,it-festival")
    parser.add_argument("--named", action="store_true", help="also run each call with its language named")
    parser.add_argument("--no-rss-baseline", action="store_true", help="skip the English-only server's RSS")
    parser.add_argument("server_args", nargs="*")
    args = parser.parse_args()
    names = [name.strip() for name in args.languages.split(",") if name.strip()]
    if "en" not in names:
        names.insert(0, "en")
    print(f"machine: {machine()}")
    results, ready, rss = run_calls(names, args.named, args.speed, args.server_args)
    english = next(r for r in results if r.name == "en" and not r.named)
    print(f"\nserver (tiny.en + base): ready in {ready:.1f} s, RSS after the calls {rss:.0f} MB")
    if not args.no_rss_baseline:
        _, ready_en, rss_en = run_calls(["en"], False, args.speed, [*args.server_args, "--multilingual-model", "none"])
        print(f"server (tiny.en only):  ready in {ready_en:.1f} s, RSS after the English call {rss_en:.0f} MB")
    print(
        "\n| call | language named | channels decided (customer / agent) | rows in the right language | WER "
        "| sentiment per turn vs English | call sentiment / agent score / outcome | wall s "
        "| Whisper s: final / detect (passes) / translate |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for result in results:
        languages = result.summary.get("languages", {})
        assert isinstance(languages, dict)
        decided = " / ".join(str(languages.get(s, {}).get("language", "-")) for s in ("customer", "agent"))
        right = sum(str(r["language"]) == result.language for r in result.rows)
        reference = [result.script_text(s) for s in ("customer", "agent")]
        hypothesis = [result.channel_text(s) for s in ("customer", "agent")]
        view = call_view(result)

        def work(kind: str, result: CallResult = result) -> tuple[int, float]:
            return result.inference.get(kind, (0, 0.0))

        print(
            f"| {result.name} | {'yes' if result.named else 'no'} | {decided} | {right}/{len(result.rows)} "
            f"| {wer(reference, hypothesis):.1%} | {sentiment_agreement(result, english)} "
            f"| {view['sentiment']} / {view['agent_score']} / {view['outcome']} | {result.wall_s:.1f} "
            f"| {work('final')[1]:.1f} / {work('detect')[1]:.1f} ({work('detect')[0]}) / {work('translate')[1]:.1f} |"
        )
    print("\nrows (language, text | translation):")
    for result in results:
        print(f"-- {result.name}{' (named)' if result.named else ''}")
        for row in result.rows:
            translation = f" | {row['translation']}" if row.get("translation") else ""
            print(
                f"   {row['speaker']:<8} {row['language']} {row['utterance_sentiment']:<8} {row['text']}{translation}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
