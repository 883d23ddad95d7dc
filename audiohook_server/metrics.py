"""Prometheus metrics, served on `GET /metrics` (prometheus-client's text format).

One registry per server (not the library's global one), so that several servers in one process (the
test suite) keep separate counts. What an operator sizes and alerts on: live sessions, audio in, the
Whisper queue and how long work waits in it, partial and final latency, inference time, partials
skipped under load, protocol errors by kind, refused connections and authentication failures.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.live_sessions = Gauge("audiohook_live_sessions", "Sessions currently connected", ["dialect"], registry=r)
        self.sessions = Counter("audiohook_sessions", "Sessions opened", ["dialect"], registry=r)
        self.audio_seconds = Counter("audiohook_audio_seconds", "Seconds of audio received, per channel", registry=r)
        self.utterances = Counter("audiohook_utterances", "Final utterances transcribed", registry=r)
        self.redacted = Counter(
            "audiohook_redacted_spans",
            "Spans of personal data redacted from finals, per entity",
            ["entity"],
            registry=r,
        )
        self.redaction_seconds = Histogram(
            "audiohook_redaction_seconds",
            "Time the PII redactor took per final (names model included)",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25),
            registry=r,
        )
        self.diarization_seconds = Histogram(
            "audiohook_diarization_seconds",
            "CPU seconds diarization took per final of a diarized channel (speaker vector, change check, label)",
            buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5),
            registry=r,
        )
        self.diarization_corrections = Counter(
            "audiohook_diarization_corrections",
            "Finals whose speaker the end-of-call diarization changed (sent in speaker_update)",
            registry=r,
        )
        self.queue_depth = Gauge(
            "audiohook_whisper_queue_depth", "Whisper jobs waiting or running", ["kind"], registry=r
        )
        self.queue_wait = Histogram(
            "audiohook_whisper_queue_wait_seconds", "Time a Whisper job waited for a worker", ["kind"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.inference = Histogram(
            "audiohook_whisper_inference_seconds", "Whisper inference time per utterance", ["kind"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.language_detections = Counter(
            "audiohook_language_detections", "Utterances whose language was detected, by the language found",
            ["language"], registry=r,
        )  # fmt: skip
        self.final_latency = Histogram(
            "audiohook_final_latency_seconds", "End of an utterance on the stream to its final being sent",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.encoder_windows = Counter(
            "audiohook_whisper_encoder_windows", "Whisper decodes by the encoder window that gave the result "
            "(fit: sized to the utterance; full: the 30 s window)", ["kind", "window"], registry=r,
        )  # fmt: skip
        self.window_fallbacks = Counter(
            "audiohook_whisper_window_fallbacks", "Fitted-window decodes refused by a guard and decoded again "
            "with the full window", ["kind", "reason"], registry=r,
        )  # fmt: skip
        self.partials_skipped = Counter(
            "audiohook_partials_skipped", "Whisper partials skipped because Whisper was busy", registry=r
        )
        self.ingest_held = Counter(
            "audiohook_ingest_held_seconds",
            "Time sessions were read more slowly for sending audio faster than --max-ingest-rate",
            registry=r,
        )
        self.http_events = Counter(
            "audiohook_http_events", "Server-Sent Events produced by live-capture sessions", ["event"], registry=r
        )
        self.http_chunks = Counter(
            "audiohook_http_chunks", "Live-capture chunks received (accepted, or resent and acknowledged again)",
            ["result"], registry=r,
        )  # fmt: skip
        self.http_bytes = Counter("audiohook_http_bytes", "Live-capture audio bytes accepted", registry=r)
        self.http_final_latency = Histogram(
            "audiohook_http_final_latency_seconds",
            "Arrival of the chunk that completed an utterance to its final_transcript event",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.language_refusals = Counter(
            "audiohook_language_refusals", "Mid-call language updates refused (no model transcribes it)", registry=r
        )
        self.errors = Counter("audiohook_protocol_errors", "Sessions ended by a protocol error", ["code"], registry=r)
        self.refused = Counter("audiohook_refused_connections", "Handshakes refused", ["reason"], registry=r)
        self.auth_failures = Counter("audiohook_auth_failures", "Authentication failures", ["kind"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
