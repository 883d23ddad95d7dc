"""Who said each final of one call: the call core's diarization, from the voice and the words.

`--diarization auto` (the default) diarizes a mono call's channel, whose speaker is otherwise
`unknown`; a stereo call's channels keep their roles (customer on external, agent on internal).
`on` also diarizes each stereo channel (a supervisor joining the agent's leg becomes `agent_2`);
`off` diarizes nothing.

Per final (worker thread, `label`): the speaker vector of its voiced audio (`speech.voice_embedding`),
read in windows that stay within its stretches of speech (`speech_runs`: turns change at pauses); a
long final whose windows change speaker is cut at the word gaps nearest each change (`_split`); each
piece is assigned online (`calls.diarization.SpeakerTracker`). On a mono channel the labels are
`speaker_1`, `speaker_2`, … and the role (`agent`/`customer`) comes from what each speaker has said so
far (`analysis.roles`): the `speaker` of events, the CSV and the analysis is that role, `speaker_id`
the label. At the end (`finish`) every utterance is clustered again with the whole call's evidence
and the roles decided on all of it; what changed is returned as corrections, which the core writes
into the CSV and the summary and announces as `speaker_update`. Events already sent stay as sent.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from analysis.pii import word_places
from analysis.roles import RoleBook, role_evidence
from audiohook_server.audio.resampling import WHISPER_RATE
from audiohook_server.calls.diarization import DiarizationConfig, SpeakerTracker, change_points, recluster
from audiohook_server.speech.pipeline import FinalAudio
from audiohook_server.speech.sentence_split import Cut, cut_parts
from audiohook_server.speech.transcriber import Transcription
from audiohook_server.speech.voice_embedding import VoiceEmbedder, VoiceEmbedding, speech_runs, voiced_audio
from protocol.events import SpeakerCorrection

__all__ = ["CallSpeakers", "SpeakerChoice", "diarized_channels"]

CUT_REACH_S = 0.8  # half a GE2E window: how far from the window boundary a change of speaker can be
UNKNOWN = "unknown"


def diarized_channels(mode: str, speakers: list[str]) -> list[bool]:
    """Which of a call's channels (their speakers: customer, agent, unknown) are diarized: `auto`, a
    mono call's one channel (a stereo upload's unnamed channels are a party each already)."""
    if mode == "off":
        return [False] * len(speakers)
    if mode == "on":
        return [True] * len(speakers)
    return [speaker == UNKNOWN and len(speakers) == 1 for speaker in speakers]


@dataclass(frozen=True)
class SpeakerChoice:
    """Who said one final: the role (`speaker`) and the diarized label (`speaker_id`)."""

    speaker: str  # agent, customer (or a channel's role)
    speaker_id: str  # speaker_1, … on a mono channel; agent_2 … within a stereo channel
    role_confidence: float | None  # how sure the role is (None: the channel says it)
    confidence: float  # how sure the label is


@dataclass
class _Said:
    channel: int
    index: int  # in its channel's tracker
    evidence: float  # analysis.roles.role_evidence of its text
    choice: SpeakerChoice
    utterance_id: str = ""


@dataclass
class CallSpeakers:
    """The diarization of one call (see the module docstring)."""

    channel_speakers: list[str]
    mode: str
    embedder: VoiceEmbedder
    rate: int
    config: DiarizationConfig = field(default_factory=DiarizationConfig)
    observe: Callable[[float], None] | None = None  # seconds each final's diarization took (metrics)
    _trackers: dict[int, SpeakerTracker] = field(default_factory=dict, init=False)
    _roles: dict[int, RoleBook] = field(default_factory=dict, init=False)
    _said: list[_Said] = field(default_factory=list, init=False)
    _sent: dict[str, _Said] = field(default_factory=dict, init=False)  # by utterance id
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    splits: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        for channel, on in enumerate(diarized_channels(self.mode, self.channel_speakers)):
            if on:
                role = self.channel_speakers[channel]
                alone = len(self.channel_speakers) == 1
                # Labels unique across the call's channels: speaker_1 (mono), agent_2, channel_1_1.
                prefix = role if role != UNKNOWN else "speaker" if alone else f"channel_{channel}"
                self._trackers[channel] = SpeakerTracker(self.config, self.embedder.standardize, prefix)
                self._roles[channel] = RoleBook()

    @property
    def active(self) -> bool:
        return bool(self._trackers)

    def diarizes(self, channel: int) -> bool:
        return channel in self._trackers

    def label(
        self, out: FinalAudio, transcription: Transcription
    ) -> list[tuple[FinalAudio, Transcription, SpeakerChoice]]:
        """Worker thread: a final of a diarized channel, cut where its speaker changes, each piece
        with its speaker."""
        began = time.thread_time()  # CPU time: other threads' work while this one waits is not its cost
        embedding = self._embed(out)
        pieces, windows = self._split(out, transcription, embedding)
        labelled = []
        with self._lock:
            for (piece, said), (a, b) in zip(pieces, windows, strict=True):
                vector = embedding if len(pieces) == 1 else _part(embedding, a, b)
                labelled.append((piece, said, self._assign(piece.channel, vector, said.text)))
        if self.observe is not None:
            self.observe(time.thread_time() - began)
        return labelled

    def sent(self, utterance_id: str, choice: SpeakerChoice) -> None:
        """The final labelled `choice` went out as `utterance_id` (the corrections name it)."""
        with self._lock:
            for said in reversed(self._said):
                if said.choice is choice and not said.utterance_id:
                    said.utterance_id = utterance_id
                    self._sent[utterance_id] = said
                    return

    def _embed(self, out: FinalAudio) -> VoiceEmbedding:
        """The final's speaker vector, read in windows that stay within its stretches of speech."""
        runs = self._runs(out)
        audio = voiced_audio(out.samples, self.rate, out.start_sample, runs)
        scale = WHISPER_RATE / self.rate
        return self.embedder.embed(audio, [round((b - a) * scale) for a, b in runs])

    def _runs(self, out: FinalAudio) -> tuple[tuple[int, int], ...]:
        return speech_runs(out.voiced, self.rate) if out.voiced else ((out.start_sample, out.end_sample),)

    def _split(
        self, out: FinalAudio, transcription: Transcription, embedding: VoiceEmbedding
    ) -> tuple[list[tuple[FinalAudio, Transcription]], list[tuple[int, int]]]:
        """`out` cut at each change of speaker inside it (or as it is), and the windows (first, end)
        of each piece."""
        tracker = self._trackers[out.channel]
        count = len(embedding.window_vectors)
        whole = ([(out, transcription)], [(0, count)])
        if embedding.seconds < self.config.change_min_s or count < 2:
            return whole
        with self._lock:
            changes = change_points(embedding.window_vectors, tracker, self.config)
        cuts: list[Cut] = []
        kept: list[int] = []
        for window in changes:
            sample = _stream_sample(self._runs(out), embedding.window_ends[window - 1], self.rate, out.end_sample)
            cut = _word_cut(out, transcription, self.rate, sample, after=cuts[-1].word if cuts else 0)
            if cut is not None:
                cuts.append(cut)
                kept.append(window)
        if not cuts:
            return whole
        self.splits += len(cuts)
        edges = [0, *kept, count]
        # numbered by the call core
        return cut_parts(out, transcription, self.rate, cuts), list(itertools.pairwise(edges))

    def _assign(self, channel: int, embedding: VoiceEmbedding, text: str) -> SpeakerChoice:
        tracker = self._trackers[channel]
        assignment = tracker.assign(embedding.vector, embedding.seconds)
        said = _Said(channel, len(tracker.labels) - 1, role_evidence(text), SpeakerChoice(UNKNOWN, "", None, 0.5))
        self._said.append(said)
        self._roles[channel] = self._book(channel, tracker.labels)  # the tracker may have relabelled others
        said.choice = self._choice(channel, assignment.label, assignment.confidence)
        return said.choice

    def _book(self, channel: int, labels: list[str]) -> RoleBook:
        """The role evidence of a channel's voices as they are labelled now."""
        book = RoleBook()
        for said in self._said:
            if said.channel == channel:
                book.add_evidence(labels[said.index], said.evidence)
        return book

    def _choice(self, channel: int, label: str, confidence: float) -> SpeakerChoice:
        role = self.channel_speakers[channel]
        if role != UNKNOWN:  # a stereo channel diarized within itself: the channel is the role
            return SpeakerChoice(role, label, None, confidence)
        speaker, role_confidence = self._roles[channel].roles().get(label, (UNKNOWN, 0.5))
        return SpeakerChoice(speaker, label, role_confidence, confidence)

    def finish(self) -> list[SpeakerCorrection]:
        """The call is over: every utterance clustered again and the roles decided on the whole call;
        the finals whose speaker or label changed, with both."""
        corrections: list[SpeakerCorrection] = []
        with self._lock:
            final_labels: dict[int, list[str]] = {}
            for channel, tracker in self._trackers.items():
                final_labels[channel] = recluster(
                    tracker.vectors, tracker.seconds, tracker.labels, self.config, tracker.standardize, tracker.prefix
                )
                self._roles[channel] = self._book(channel, final_labels[channel])
            for said in self._said:
                tracker = self._trackers[said.channel]
                label = final_labels[said.channel][said.index]
                tracker.relabel(said.index, label)
                now = self._choice(said.channel, label, said.choice.confidence)
                if now.speaker_id != said.choice.speaker_id or now.speaker != said.choice.speaker:
                    corrections.append(
                        SpeakerCorrection(
                            said.utterance_id,
                            now.speaker,
                            now.speaker_id,
                            said.choice.speaker,
                            said.choice.speaker_id,
                            now.role_confidence,
                        )
                    )
                said.choice = replace(now, confidence=said.choice.confidence)
        return corrections

    def final_choice(self, utterance_id: str) -> SpeakerChoice | None:
        """After `finish`: the final speaker of `utterance_id`."""
        with self._lock:
            said = self._sent.get(utterance_id)
            return said.choice if said is not None else None

    def describe(self) -> dict[str, object]:
        """The summary's `diarization`: how, and per label its role, the role's confidence,
        utterances and voiced seconds."""
        return {
            "mode": self.mode,
            "embedder": self.embedder.name,
            "speakers": self._speakers_found(),
            "splits": self.splits,
        }

    def _speakers_found(self) -> dict[str, dict[str, object]]:
        with self._lock:
            found: dict[str, dict[str, object]] = {}
            for said in self._said:
                entry = found.setdefault(
                    said.choice.speaker_id,
                    {
                        "role": said.choice.speaker,
                        "role_confidence": said.choice.role_confidence,
                        "utterances": 0,
                        "speech_s": 0.0,
                    },
                )
                entry["utterances"] = int(str(entry["utterances"])) + 1
                seconds = self._trackers[said.channel].seconds[said.index]
                entry["speech_s"] = round(float(str(entry["speech_s"])) + seconds, 2)
            return found


def _part(embedding: VoiceEmbedding, first: int, end: int) -> VoiceEmbedding:
    """One piece of a final cut at changes of speaker, from the windows `first`..`end` the whole final
    was read in (not read again)."""
    ends = embedding.window_ends
    vectors = list(embedding.window_vectors[first:end])
    mean = np.mean(vectors, axis=0)
    vector = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
    began = ends[first - 1] if first > 0 else 0.0
    seconds = (ends[end - 1] if end < len(ends) else embedding.seconds) - began
    return VoiceEmbedding(vector, max(0.0, seconds), tuple(vectors), tuple(ends[first:end]))


def _stream_sample(runs: tuple[tuple[int, int], ...], voiced_s: float, rate: int, end: int) -> int:
    """The stream sample `voiced_s` seconds into the speech `runs` (joined); `end` past them."""
    target = voiced_s * rate
    for a, b in runs:
        length = b - a
        if target <= length:
            return int(a + target)
        target -= length
    return end


def _word_cut(out: FinalAudio, transcription: Transcription, rate: int, sample: int, after: int = 0) -> Cut | None:
    """Where to cut near stream `sample` (a window boundary, so within about half a window of the
    change): the widest gap between two words within `CUT_REACH_S` of it (turns change at pauses),
    else the nearest gap. None without two findable words on each side (after the word `after`, the
    previous cut's): a piece without words is no final."""
    words = transcription.words
    places = word_places(transcription.text, [w.text for w in words])
    at = (sample - out.start_sample) / rate
    candidates: list[tuple[float, float, Cut]] = []  # (distance, -gap width, cut)
    for i in range(after + 2, len(words) - 1):
        left, right = places[i - 1], places[i]
        if left is None or right is None:
            continue
        middle = (words[i - 1].end + words[i].start) / 2
        cut = Cut(i, int(np.clip(middle * rate, 1, len(out.samples) - 1)), left[1])
        candidates.append((abs(middle - at), -(words[i].start - words[i - 1].end), cut))
    if not candidates:
        return None
    near = [c for c in candidates if c[0] <= CUT_REACH_S]
    if near:
        return min(near, key=lambda c: (c[1], c[0]))[2]
    return min(candidates, key=lambda c: c[0])[2]
