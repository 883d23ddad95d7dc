"""The process-wide speech engine (the call core's `Recognizer`): models loaded once, shared by every
session through worker pools.

The models: Whisper (finals, and partials without Vosk), Vosk when configured, and the analysis
backend (sentence embeddings and their heads). With a multilingual Whisper model (`--multilingual-model`,
base by default) beside the English one, a final is routed by its language: English to the English
model (tiny.en: fast), every other language to the multilingual one, which also detects the language
when the call core asks (language None) and translates non-English finals into English for the
analysis. One model serves both when the English model is itself multilingual.

The event loop never runs model code. Whisper runs in its own bounded pool, shared fairly between
calls (`scheduler.FairScheduler`: each call's finals wait in its own queue and the calls take turns);
VAD, Vosk, resampling, analysis and file writes run in the stream pool. Both pools' threads run at a
higher niceness than the loop (`--worker-niceness`). Finals always run; a partial
is skipped when Whisper has finals to do or no worker is free (partials are the first thing the
server gives up under load, finals never).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from analysis import AnalysisModels, CallAnalyzer, load_analysis_backend
from analysis.pii import Entity, PersonNames
from audiohook_server.audio.resampling import WHISPER_RATE, to_whisper_audio
from audiohook_server.calls.diarization import DiarizationConfig
from audiohook_server.calls.speakers import CallSpeakers, diarized_channels
from audiohook_server.metrics import ServerMetrics
from audiohook_server.settings import ConfigurationError, Settings
from audiohook_server.speech.model_files import resolve_vosk_model, resolve_whisper_model
from audiohook_server.speech.pipeline import ChannelPipeline, PartialsMode
from audiohook_server.speech.scheduler import FairScheduler
from audiohook_server.speech.streaming import load_vosk_model
from audiohook_server.speech.transcriber import FasterWhisperTranscriber, Transcriber, Transcription
from audiohook_server.speech.voice_embedding import VoiceEmbedder, load_embedder
from audiohook_server.thread_priority import lower_current_thread
from protocol.audio import MediaFormat, speaker_for_channel
from protocol.languages import AUTO

log = logging.getLogger(__name__)
T = TypeVar("T")
# A detected language is believed from this much audio (the utterance with its VAD padding) and this
# probability among the supported languages; shorter or less sure, the channel's current language is
# used ("Yes." says little about the language it is in).
DETECTION_MIN_S = 1.2
DETECTION_MIN_PROBABILITY = 0.5


def available_cpus() -> int:
    """CPUs this process may really use: its affinity, capped by a cgroup v2 CPU quota (a container's
    CPU limit), not the host's core count."""
    count = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return count


@dataclass(frozen=True)
class ResolvedModels:
    whisper_dir: Path
    vosk_dir: Path | None
    openai_checkpoint: Path | None = None  # --whisper-backend openai: the converted checkpoint
    multilingual_dir: Path | None = None  # the model for other languages; None: English only


def resolve_models(settings: Settings) -> ResolvedModels:
    """Find every model the settings need, or raise ModelNotFoundError: done before serving."""
    whisper_dir = resolve_whisper_model(settings.whisper_model, settings.model_cache_dir)
    vosk_dir = resolve_vosk_model(settings.vosk_model) if settings.vosk_model else None
    checkpoint = None
    if settings.whisper_backend == "openai":
        from audiohook_server.speech.openai_backend import resolve_openai_checkpoint

        checkpoint = resolve_openai_checkpoint(whisper_dir, settings.model_cache_dir)
    multilingual_dir = None
    if settings.multilingual_model != "none":
        multilingual_dir = resolve_whisper_model(settings.multilingual_model, settings.model_cache_dir)
    return ResolvedModels(whisper_dir, vosk_dir, checkpoint, multilingual_dir)


class SpeechEngine:
    def __init__(self, settings: Settings, models: ResolvedModels, metrics: ServerMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or ServerMetrics()
        self.models = models
        self.partials_mode = settings.partials_mode
        self.transcriber: Transcriber | None = None
        self.multilingual: FasterWhisperTranscriber | None = None  # other languages, detection, translation
        self.languages = settings.languages
        self.vosk_model: Any = None
        self.analysis_models: AnalysisModels | None = None
        self.voice_embedder: VoiceEmbedder | None = None  # diarization (calls.speakers); None when off
        self.load_error: BaseException | None = None
        self._ready = asyncio.Event()
        # Several single-threaded Whisper workers beat one multi-threaded worker under concurrent calls:
        # utterances are short, so intra-op threading scales poorly (8 stereo calls on 2 cores: final
        # p95 3.6 s with 1 worker x 2 threads, 1.7 s with 2 workers x 1 thread).
        self.whisper_workers = settings.whisper_workers or available_cpus()
        if settings.whisper_backend == "openai":
            self.whisper_workers = 1
        # Model and file work yields the CPU to the event loop (thread_priority.py): the models load in a
        # stream worker, so the threads CTranslate2 starts for them inherit its niceness.
        lower = (settings.worker_niceness,)
        self._whisper_pool = ThreadPoolExecutor(
            self.whisper_workers, thread_name_prefix="whisper", initializer=lower_current_thread, initargs=lower
        )
        self.scheduler = FairScheduler(self._whisper_pool, self.whisper_workers)
        self.stream_pool = ThreadPoolExecutor(
            max(2, min(8, available_cpus())),
            thread_name_prefix="stream",
            initializer=lower_current_thread,
            initargs=lower,
        )

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def serving(self) -> bool:
        """Loaded, and loaded without error: sessions can be transcribed."""
        return self.ready and self.load_error is None

    async def wait_ready(self) -> None:
        await self._ready.wait()
        if self.load_error is not None:
            raise RuntimeError(f"speech models failed to load: {self.load_error}")

    async def load(self) -> None:
        """Load the models in a worker thread; sessions may open meanwhile (their audio is buffered)."""
        started = time.monotonic()
        try:
            await asyncio.get_running_loop().run_in_executor(self.stream_pool, self._load_blocking)
        except BaseException as exc:
            self.load_error = exc
            log.exception("loading speech models failed")
            raise
        finally:
            self._ready.set()
        log.info(
            "speech models ready in %.1f s: whisper=%s partials=%s",
            time.monotonic() - started,
            self.models.whisper_dir,
            self.partials_mode.value,
        )

    def _load_blocking(self) -> None:
        s = self.settings
        if self.models.openai_checkpoint is not None:
            from audiohook_server.speech.openai_backend import OpenAIWhisperTranscriber

            # One model, calls serialised inside: more workers would only queue behind its lock.
            self.transcriber = OpenAIWhisperTranscriber(
                self.models.openai_checkpoint,
                device=s.whisper_device,
                threads=s.whisper_threads,
                beam_size=s.beam_size,
                window=s.encoder,
            )
        else:
            self.transcriber = self._faster_whisper(self.models.whisper_dir)
        self.multilingual = self._load_multilingual()
        if self.partials_mode is PartialsMode.VOSK and self.models.vosk_dir is not None:
            self.vosk_model = load_vosk_model(self.models.vosk_dir)
        self.analysis_models = load_analysis_backend(s.analysis)
        if s.diarization != "off":
            self.voice_embedder = load_embedder(s.speaker_embedder)
            log.info("diarization: %s, %s speaker vectors, at most %d speakers", s.diarization,
                     s.speaker_embedder, s.max_speakers)  # fmt: skip
        log.info("%s", self.analysis_models.describe())  # "analysis: sentiment …, emotion …"
        policy = s.redaction
        if Entity.PERSON in policy.entities and policy.active:
            PersonNames().load()  # spaCy's NER, once per process, before the first call's first final
        log.info("%s", policy.describe())
        # Warm-up: the first inference pays one-off allocation costs; pay them before the first caller.
        silence = np.zeros(WHISPER_RATE, dtype=np.float32)
        self.transcriber.transcribe(silence, language="en", final=True)
        if self.multilingual is not None and self.multilingual is not self.transcriber:
            self.multilingual.detect(silence, self.languages.supported)
            self.multilingual.transcribe(silence, language=None, final=True)
        if self.voice_embedder is not None:  # librosa's first mel spectrogram takes seconds
            noise = np.random.default_rng(0).normal(0, 0.05, WHISPER_RATE * 2).astype(np.float32)
            self.voice_embedder.embed(noise)

    def _faster_whisper(self, directory: Path) -> FasterWhisperTranscriber:
        """A faster-whisper model with this process's device, threads, workers, beam and encoder window."""
        s = self.settings
        return FasterWhisperTranscriber(
            directory,
            device=s.whisper_device,
            compute_type=s.whisper_compute_type,
            cpu_threads=s.whisper_threads or max(1, available_cpus() // self.whisper_workers),
            num_workers=self.whisper_workers,
            beam_size=s.beam_size,
            window=s.encoder,
        )

    def _load_multilingual(self) -> FasterWhisperTranscriber | None:
        """The model for languages other than English: the English model when it is multilingual and
        no other is asked for, else the configured one; a configuration that supports other languages
        without any is refused here, before the first call."""
        english = self.transcriber
        directory = self.models.multilingual_dir
        multilingual_english = isinstance(english, FasterWhisperTranscriber) and not english.english_only
        if multilingual_english and (directory is None or directory == self.models.whisper_dir):
            assert isinstance(english, FasterWhisperTranscriber)
            return english  # one model for every language
        model = None
        if directory is not None:
            model = self._faster_whisper(directory)
            if model.english_only:
                raise ConfigurationError(f"--multilingual-model {directory} is an English-only model")
        foreign = [code for code in self.languages.supported if code != "en"]
        if foreign and model is None:
            raise ConfigurationError(f"supported languages {', '.join(foreign)} need a multilingual Whisper model")
        return model

    def model_for(self, language: str) -> Transcriber:
        """The model that transcribes `language`: English to the English model, the rest to the
        multilingual one."""
        assert self.transcriber is not None
        if language == "en" or self.multilingual is None:
            return self.transcriber
        return self.multilingual

    def new_speakers(self, media: MediaFormat) -> CallSpeakers | None:
        """The diarization of one new call, or None when none of its channels is diarized."""
        channel_speakers = [speaker_for_channel(name) for name in media.channels]
        if self.voice_embedder is None or not any(diarized_channels(self.settings.diarization, channel_speakers)):
            return None
        return CallSpeakers(
            channel_speakers,
            self.settings.diarization,
            self.voice_embedder,
            media.rate,
            DiarizationConfig(max_speakers=self.settings.max_speakers),
            observe=self.metrics.diarization_seconds.observe,
        )

    def new_analyzer(self, goal: str = "") -> CallAnalyzer:
        """The analysis of one new call, on this process's analysis models."""
        return CallAnalyzer(models=self.analysis_models, goal=goal)

    def channel_pipeline(self, channel: int, rate: int) -> ChannelPipeline:
        """A new VAD/segmenter pipeline for one channel of one call, with this process's partials."""
        return ChannelPipeline(
            channel=channel,
            rate=rate,
            segmenter_config=self.settings.segmenter,
            partials=self.partials_mode,
            vosk_model=self.vosk_model,
            partial_interval_s=self.settings.partial_interval_ms / 1000,
            text_endpointing=self.settings.endpointing == "text",
        )

    async def transcribe_final(
        self, samples: npt.NDArray[np.int16], rate: int, language: str | None, *, call: str = "", fallback: str = "en"
    ) -> Transcription:
        """Whisper final for one utterance of `call` (never skipped; calls take turns fairly). `language`
        None: detect it, and transcribe in `fallback` when the detection is not to be trusted."""
        await self.wait_ready()
        depth = self.metrics.queue_depth.labels("final")
        depth.inc()
        try:
            return await self.scheduler.submit_final(
                call, self._transcribe_blocking, samples, rate, language, True, time.monotonic(), fallback
            )
        finally:
            depth.dec()

    def try_transcribe_partial(
        self, samples: npt.NDArray[np.int16], rate: int, language: str | None, *, call: str = ""
    ) -> asyncio.Future[Transcription] | None:
        """A Whisper partial, or None when Whisper is busy (the partial is skipped, not queued)."""
        future = (
            self.scheduler.try_partial(
                call, self._transcribe_blocking, samples, rate, language, False, time.monotonic()
            )
            if self.ready
            else None
        )
        if future is None:
            self.metrics.partials_skipped.inc()
            return None
        depth = self.metrics.queue_depth.labels("partial")
        depth.inc()
        future.add_done_callback(lambda _: depth.dec())
        return future

    def _transcribe_blocking(
        self,
        samples: npt.NDArray[np.int16],
        rate: int,
        language: str | None,
        final: bool,
        queued_at: float,
        fallback: str = "en",
    ) -> Transcription:
        """Worker thread: one utterance in `language` (None: detect it first, among the supported ones,
        and trust what was found on `DETECTION_MIN_S` of audio with `DETECTION_MIN_PROBABILITY`, else
        use `fallback`), on the model for that language; a final in another language than English gets
        its translation."""
        kind = "final" if final else "partial"
        started = time.monotonic()
        self.metrics.queue_wait.labels(kind).observe(started - queued_at)
        audio = to_whisper_audio(samples, rate)
        probability = None
        if language is None or language == AUTO:
            language, probability = fallback, None
            if self.multilingual is not None and self.languages.detectable and len(audio) >= DETECTION_MIN_S * 16000:
                found, p = self.multilingual.detect(audio, self.languages.supported)
                detected = time.monotonic()
                self.metrics.inference.labels("detect").observe(detected - started)
                started = detected
                if p >= DETECTION_MIN_PROBABILITY:
                    language, probability = found, p
                    self.metrics.language_detections.labels(language).inc()
        result = self.model_for(language).transcribe(audio, language=language, final=final)
        self.metrics.inference.labels(kind).observe(time.monotonic() - started)
        self.metrics.encoder_windows.labels(kind, result.window).inc()
        if result.fallback is not None:
            self.metrics.window_fallbacks.labels(kind, result.fallback).inc()
        result = replace(result, language=language, language_probability=probability)
        if final and language != "en" and result.text and self.multilingual and self.settings.translate_for_analysis:
            began = time.monotonic()
            result = replace(result, translation=self.multilingual.translate(audio, language))
            self.metrics.inference.labels("translate").observe(time.monotonic() - began)
        return result

    def close(self) -> None:
        self._whisper_pool.shutdown(wait=False, cancel_futures=True)
        self.stream_pool.shutdown(wait=False, cancel_futures=True)
