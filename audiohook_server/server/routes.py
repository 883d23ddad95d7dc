"""What each path is: plain HTTP answers (health, readiness, metrics) or a WebSocket door.

- `/healthz`: 200 once the speech models are loaded and sessions can be served, 503 before (liveness).
- `/readyz`: 200 when a new session would be accepted: models loaded, not draining, below
  `--max-sessions` (readiness: a full or draining pod stops receiving calls).
- `/metrics`: Prometheus metrics (see metrics.py).
- `/audiohook` and `/`: the AudioHook door (Genesys and the simple dialect).
- `/ws/transcribe`: the JWT door (live dialect); 404 with the reason when no JWT key is configured.
Anything else: 404 naming the endpoints.
"""

from __future__ import annotations

import enum
import http
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["AUDIOHOOK_PATHS", "LIVE_PATH", "Door", "HttpAnswer", "ServerState", "route"]

AUDIOHOOK_PATHS = frozenset({"/", "/audiohook"})
LIVE_PATH = "/ws/transcribe"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"


class Door(enum.Enum):
    AUDIOHOOK = "audiohook"
    LIVE = "live"


@dataclass(frozen=True)
class HttpAnswer:
    status: http.HTTPStatus
    body: str
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class ServerState:
    """What the HTTP answers depend on."""

    serving: bool  # models loaded without error
    draining: bool
    at_capacity: bool
    jwt_enabled: bool
    render_metrics: Callable[[], bytes]


def route(path: str, state: ServerState) -> HttpAnswer | Door:
    """The answer for a plain HTTP path, or the WebSocket door it leads to."""
    if path == HEALTH_PATH:
        if state.serving:
            return HttpAnswer(http.HTTPStatus.OK, "ok\n")
        return HttpAnswer(http.HTTPStatus.SERVICE_UNAVAILABLE, "loading models\n")
    if path == READY_PATH:
        if not state.serving:
            return HttpAnswer(http.HTTPStatus.SERVICE_UNAVAILABLE, "loading models\n")
        if state.draining:
            return HttpAnswer(http.HTTPStatus.SERVICE_UNAVAILABLE, "draining\n")
        if state.at_capacity:
            return HttpAnswer(http.HTTPStatus.SERVICE_UNAVAILABLE, "at capacity\n")
        return HttpAnswer(http.HTTPStatus.OK, "ready\n")
    if path == METRICS_PATH:
        return HttpAnswer(http.HTTPStatus.OK, state.render_metrics().decode("utf-8"), "text/plain; version=0.0.4")
    if path == LIVE_PATH:
        if not state.jwt_enabled:
            return HttpAnswer(
                http.HTTPStatus.NOT_FOUND,
                "live transcription is disabled: configure AUDIOHOOK_JWT_SECRET or AUDIOHOOK_JWT_PUBLIC_KEY\n",
            )
        return Door.LIVE
    if path in AUDIOHOOK_PATHS:
        return Door.AUDIOHOOK
    return HttpAnswer(http.HTTPStatus.NOT_FOUND, f"no endpoint at {path}; use /audiohook or {LIVE_PATH}\n")
