"""Who spoke: speaker labels for the utterances of a mono channel, live and after the call.

Pure logic over speaker vectors (`speech.voice_embedding`); no audio, no models, no I/O.

- **Online** (`SpeakerTracker.assign`): each final, when it is finalized, goes to the speaker whose
  running centroid it is most like, or starts a new speaker (`speaker_1`, `speaker_2`, … up to
  `max_speakers`) when it is like none of them and long enough to be sure of (a "yes" says little
  about its voice). A centroid is the duration-weighted mean of its utterances' vectors, so it
  steadies as a speaker talks. Then the call's recent utterances (`online_window`), the new one
  with them, are clustered again as after the call (below) and relabelled: the new final's label is
  what all the evidence so far says, and the centroids follow (labels already sent stay as sent).
- **A change inside an utterance** (`change_point`, `change_points`): an utterance long enough for
  several 1.6 s windows is split where its windows stop matching one speaker and start matching
  another, and each part again (the VAD joins turns with short gaps between them).
- **After the call** (`recluster`): average-linkage agglomerative clustering over every utterance's
  vector (scipy), cut at a cosine distance, short utterances attached to the nearest cluster
  afterwards; the clusters are named after the online labels they overlap most (Hungarian
  assignment over speech time), so a label changes only where the call's whole evidence says so.

Classical features (MFCC statistics) are standardised over the call before any comparison
(`standardize`): their raw scale is the channel's, not the speaker's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "Assignment",
    "DiarizationConfig",
    "SpeakerTracker",
    "change_point",
    "change_points",
    "recluster",
    "speaker_label",
]

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class DiarizationConfig:
    """The thresholds, chosen on `benchmarks/bench_diarization.py`'s development calls."""

    max_speakers: int = 4
    same_speaker: float = 0.78  # cosine similarity to a centroid that is this speaker (online)
    new_speaker_min_s: float = 1.0  # voiced seconds an utterance needs to start a new speaker
    recluster_distance: float = 0.25  # average-linkage cosine distance at which clusters stop merging
    recluster_min_s: float = 1.0  # shorter utterances are attached after clustering, not clustered
    change_min_s: float = 3.2  # utterances shorter than this (two windows) are never split
    change_margin: float = 0.08  # how much better each side must match its own speaker to split
    # Each new utterance re-clusters the last this many (with it) and relabels them (0: centroids only):
    # the live label then has the evidence of the call so far, at a bounded cost (about 3 ms for 120).
    online_window: int = 120


def speaker_label(index: int, prefix: str = "speaker") -> str:
    """`speaker_1`, `speaker_2`, … (index from 0)."""
    return f"{prefix}_{index + 1}"


@dataclass(frozen=True)
class Assignment:
    label: str
    similarity: float  # to the chosen speaker's centroid (1.0 for a call's first utterance)
    confidence: float  # 0..1: how much better the chosen speaker fits than the next one
    new: bool  # this utterance started the speaker


def _unit(vectors: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


@dataclass
class _Standardizer:
    """Running mean and deviation of a call's raw vectors (classical features only)."""

    count: int = 0
    total: npt.NDArray[np.float64] | None = None
    squares: npt.NDArray[np.float64] | None = None

    def add(self, vector: Vector) -> None:
        v = vector.astype(np.float64)
        self.total = v.copy() if self.total is None else self.total + v
        self.squares = v * v if self.squares is None else self.squares + v * v
        self.count += 1

    def apply(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        if self.total is None or self.squares is None or self.count < 2:
            return _unit(vectors)
        mean = self.total / self.count
        std = np.sqrt(np.maximum(self.squares / self.count - mean * mean, 1e-12))
        return _unit((vectors - mean) / std)


@dataclass
class SpeakerTracker:
    """One channel's speakers so far; `assign` labels each final as it comes."""

    config: DiarizationConfig = field(default_factory=DiarizationConfig)
    standardize: bool = False
    prefix: str = "speaker"
    vectors: list[Vector] = field(default_factory=list)  # every assigned utterance's (raw) vector
    seconds: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # the online label of each
    _scale: _Standardizer = field(default_factory=_Standardizer)

    @property
    def speakers(self) -> list[str]:
        return list(dict.fromkeys(self.labels))

    def _comparable(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return self._scale.apply(vectors) if self.standardize else _unit(vectors)

    def centroids(self) -> dict[str, Vector]:
        """Each speaker's duration-weighted mean vector (unit length), in the comparable space."""
        if not self.vectors:
            return {}
        comparable = self._comparable(np.stack(self.vectors))
        weights = np.minimum(np.asarray(self.seconds), 4.0) + 0.25
        out: dict[str, Vector] = {}
        for name in self.speakers:
            rows = [i for i, label in enumerate(self.labels) if label == name]
            out[name] = _unit(np.average(comparable[rows], axis=0, weights=weights[rows]))
        return out

    def similarities(self, vector: Vector) -> dict[str, float]:
        centroids = self.centroids()
        if not centroids:
            return {}
        probe = self._comparable(vector[None])[0]
        return {name: float(probe @ c) for name, c in centroids.items()}

    def assign(self, vector: Vector, seconds: float) -> Assignment:
        """The label of a new utterance (`seconds` of voiced speech), remembered for the next ones."""
        if self.standardize:
            self._scale.add(vector)
        scores = self.similarities(vector)
        cfg = self.config
        if not scores:
            chosen, similarity, confidence, new = speaker_label(0, self.prefix), 1.0, 0.5, True
        else:
            ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
            chosen, similarity = ranked[0]
            runner_up = ranked[1][1] if len(ranked) > 1 else cfg.same_speaker
            new = similarity < cfg.same_speaker and seconds >= cfg.new_speaker_min_s and len(scores) < cfg.max_speakers
            if new:
                chosen = speaker_label(len(scores), self.prefix)
                confidence = _confidence(cfg.same_speaker - similarity)
            else:
                confidence = _confidence(similarity - runner_up)
        self.vectors.append(vector)
        self.seconds.append(seconds)
        self.labels.append(chosen)
        if cfg.online_window and len(self.labels) >= 2:
            known = set(self.labels[:-1])
            chosen = self._settle(cfg.online_window)
            new = chosen not in known
        return Assignment(chosen, similarity, confidence, new)

    def _settle(self, window: int) -> str:
        """The last `window` utterances clustered again and relabelled; the newest one's label."""
        first = max(0, len(self.labels) - window)
        reserved = set(self.labels[:first])
        settled = recluster(
            self.vectors[first:],
            self.seconds[first:],
            self.labels[first:],
            self.config,
            self.standardize,
            self.prefix,
            reserved=reserved,
        )
        self.labels[first:] = settled
        return settled[-1]

    def relabel(self, index: int, label: str) -> None:
        """Utterance `index` is now `label` (it was split, or the final clustering moved it)."""
        self.labels[index] = label


def _confidence(margin: float) -> float:
    """A similarity margin as 0.5..1 (0.1 of cosine similarity is already a clear difference)."""
    return round(float(0.5 + 0.5 * np.tanh(max(0.0, margin) / 0.05)), 3)


def change_point(
    windows: Sequence[Vector],
    tracker: SpeakerTracker,
    config: DiarizationConfig,
) -> int | None:
    """Where a long utterance changes speaker: the index of the first window of its second part, or
    None. Either each part matches a different known speaker better than that one by
    `change_margin`, or (one known speaker fits both best, or none is known yet) one part fits
    nobody known and the two parts differ as two speakers do. The cut that separates them most wins."""
    if len(windows) < 2:
        return None
    stacked = tracker._comparable(np.stack(windows))
    centroids = tracker.centroids()
    matrix = np.stack(list(centroids.values())) if centroids else None
    best: tuple[float, int] | None = None
    for cut in range(1, len(windows)):
        left, right = _unit(stacked[:cut].mean(axis=0)), _unit(stacked[cut:].mean(axis=0))
        score: float | None = None
        if matrix is not None:
            left_scores, right_scores = matrix @ left, matrix @ right
            li, ri = int(np.argmax(left_scores)), int(np.argmax(right_scores))
            if li != ri:  # two known voices: each part must prefer its own clearly
                margin = min(left_scores[li] - left_scores[ri], right_scores[ri] - right_scores[li])
                score = float(margin) if margin >= config.change_margin else None
            elif min(left_scores[li], right_scores[ri]) >= config.same_speaker:
                score = None  # both parts are that known voice
            else:
                score = _apart(left, right, config)
        else:
            score = _apart(left, right, config)
        if score is not None and (best is None or score > best[0]):
            best = (score, cut)
    return None if best is None else best[1]


def _apart(left: Vector, right: Vector, config: DiarizationConfig) -> float | None:
    """How much less alike two parts are than one speaker's parts (None: not enough)."""
    gap = config.same_speaker - config.change_margin - float(left @ right)
    return gap if gap > 0 else None


def change_points(
    windows: Sequence[Vector], tracker: SpeakerTracker, config: DiarizationConfig, most: int = 8
) -> list[int]:
    """Every change of speaker in a long utterance (several turns the VAD joined), in order; at most
    `most`. With two or more known speakers each window is given the one it prefers by
    `change_margin` (an unclear window goes with its neighbours), and a cut falls where that changes,
    so a short turn between two of the other's is found too; else `change_point`, then again within
    each part."""
    centroids = tracker.centroids()
    if len(centroids) >= 2 and len(windows) >= 2:
        matrix = np.stack(list(centroids.values()))
        scores = tracker._comparable(np.stack(windows)) @ matrix.T
        ranked = np.sort(scores, axis=1)
        clear = ranked[:, -1] - ranked[:, -2] >= config.change_margin
        best = np.argmax(scores, axis=1)
        known = [int(b) if c else None for b, c in zip(best, clear, strict=True)]
        first = next((k for k in known if k is not None), None)
        runs: list[int] = []
        for k in known:
            runs.append(k if k is not None else (runs[-1] if runs else first if first is not None else -1))
        cuts = [i for i in range(1, len(runs)) if runs[i] != runs[i - 1]]
        return cuts[:most]
    found: list[int] = []
    spans = [(0, len(windows))]
    while spans and len(found) < most:
        a, b = spans.pop()
        if b - a < 2:
            continue
        cut = change_point(windows[a:b], tracker, config)
        if cut is None:
            continue
        found.append(a + cut)
        spans += [(a, a + cut), (a + cut, b)]
    return sorted(found)


def recluster(
    vectors: Sequence[Vector],
    seconds: Sequence[float],
    online: Sequence[str],
    config: DiarizationConfig,
    standardize: bool = False,
    prefix: str = "speaker",
    reserved: set[str] | None = None,
) -> list[str]:
    """The final labels of a channel's utterances, from all of them at once (see the module docstring);
    named after the online labels wherever the clusters agree with them (a new cluster never takes a
    `reserved` label: one that utterances outside these have)."""
    count = len(vectors)
    if count < 2:
        return list(online)
    raw = np.stack(vectors)
    if standardize:
        scale = _Standardizer()
        for v in vectors:
            scale.add(v)
        comparable = scale.apply(raw)
    else:
        comparable = _unit(raw)
    secs = np.asarray(seconds, dtype=np.float64)
    core = [i for i in range(count) if secs[i] >= config.recluster_min_s]
    if len(core) < 2:
        return list(online)
    clusters = _agglomerate(comparable[core], config)
    centroid_of: dict[int, Vector] = {}
    for c in set(clusters):
        rows = [core[k] for k, label in enumerate(clusters) if label == c]
        centroid_of[c] = _unit(np.average(comparable[rows], axis=0, weights=np.minimum(secs[rows], 4.0)))
    assigned = np.empty(count, dtype=np.int64)
    assigned[core] = clusters
    names = list(centroid_of)
    matrix = np.stack([centroid_of[c] for c in names])
    for i in range(count):
        if secs[i] < config.recluster_min_s:
            assigned[i] = names[int(np.argmax(matrix @ comparable[i]))]
    return _names(assigned.tolist(), list(online), secs, prefix, reserved or set())


def _agglomerate(comparable: npt.NDArray[np.float32], config: DiarizationConfig) -> list[int]:
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(comparable.astype(np.float64), method="average", metric="cosine")
    labels = fcluster(tree, t=config.recluster_distance, criterion="distance")
    if len(set(labels)) > config.max_speakers:
        labels = fcluster(tree, t=config.max_speakers, criterion="maxclust")
    return [int(x) for x in labels]


def _names(
    clusters: list[int], online: list[str], seconds: npt.NDArray[np.float64], prefix: str, reserved: set[str]
) -> list[str]:
    """Cluster ids -> labels: each cluster takes the online label it shares most speech with (one
    cluster per label, Hungarian), the others the lowest labels none of those took."""
    from scipy.optimize import linear_sum_assignment

    ids = sorted(set(clusters))
    known = list(dict.fromkeys(online))
    overlap = np.zeros((len(ids), len(known)))
    for c, label, s in zip(clusters, online, seconds, strict=True):
        overlap[ids.index(c), known.index(label)] += s + 1e-3
    rows, cols = linear_sum_assignment(-overlap)
    name = {ids[r]: known[k] for r, k in zip(rows, cols, strict=True) if overlap[r, k] > 0}
    taken = set(name.values()) | reserved
    number = 0
    for c in ids:
        if c not in name:  # the lowest label no cluster has kept
            number += 1
            while f"{prefix}_{number}" in taken:
                number += 1
            name[c] = f"{prefix}_{number}"
            taken.add(name[c])
    return [name[c] for c in clusters]
