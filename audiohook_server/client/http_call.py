"""`audiohook-client --live-http`: the HTTP live-capture API as a browser or a serverless function uses it.

The client does what the API reference's cookbook does: `POST /analyze/live/start`, then the file's
bytes as numbered multipart chunks (as they would come from a `MediaRecorder`, so the server decodes
the container itself), the Server-Sent-Events stream read at the same time, `finalize`, and the
stream read until `done`. Chunks are paced so that the chunk holding the first x % of the file goes
out when x % of its audio has been spoken (`--speed` divides that), which is what a live upload
looks like to the server. A chunk whose request fails in transit is sent again with the same
`chunk_seq` (the server acknowledges a resend without appending it twice), and an event stream that
drops is reopened with `Last-Event-ID`, so a flaky network loses nothing.

httpx is the HTTP client the async cookbook uses; httpx-sse parses the event stream (event names,
ids, multi-line data) to the SSE specification, so neither is hand-written here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from httpx_sse import SSEError, aconnect_sse

from audiohook_server.client.console import Console
from audiohook_server.client.results import CallOutcome
from audiohook_server.client.session import ClientError
from audiohook_server.client.tls import describe_tls_failure, find_ssl_error

__all__ = ["HttpCallOptions", "http_base_url", "run_http_call"]

CHUNK_BYTES = 64 * 1024  # within the 32-128 kB the API reference recommends
SEND_ATTEMPTS = 3
STREAM_RECONNECTS = 5


@dataclass(frozen=True, kw_only=True)
class HttpCallOptions:
    """Credentials, pacing and timeouts of one live-capture session."""

    api_key: str | None = None
    bearer_token: str | None = None
    speed: float = 1.0
    chunk_bytes: int = CHUNK_BYTES
    goal: str | None = None
    language: str | None = None  # None: not sent (the server detects it)
    close_timeout: float = 120.0
    ssl_context: ssl.SSLContext | None = None


def http_base_url(url: str) -> str:
    """`http(s)://host:port` from the URL given: ws:// becomes http://, wss:// https://, the path is dropped."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme.lower(), parts.scheme.lower())
    if scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--live-http needs an http(s):// (or ws://) URL of the server, got {url!r}")
    return urlunsplit((scheme, parts.netloc, "", "", ""))


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail if detail is not None else body)[:200]


class _Events:
    """Reads the event stream into the console until `done`, reconnecting with `Last-Event-ID`."""

    def __init__(self, http: httpx.AsyncClient, path: str, console: Console) -> None:
        self.http = http
        self.path = path
        self.console = console
        self.last_id = ""
        self.finals = 0
        self.errors: list[dict[str, Any]] = []
        self.done: dict[str, Any] | None = None
        self.phase = ""

    async def run(self) -> None:
        for _ in range(STREAM_RECONNECTS + 1):
            headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
            try:
                async with aconnect_sse(self.http, "GET", self.path, headers=headers, timeout=None) as source:
                    if source.response.status_code != 200:
                        await source.response.aread()
                        raise ClientError(
                            f"the event stream was refused: HTTP {source.response.status_code} "
                            f"{_detail(source.response)}"
                        )
                    async for event in source.aiter_sse():
                        self.last_id = event.id or self.last_id
                        self.show(event.event, event.data)
                        if self.done is not None:
                            return
            except (httpx.TransportError, SSEError) as exc:
                self.console.show_notice(f"event stream interrupted ({exc.__class__.__name__}); reconnecting")
                await asyncio.sleep(0.5)
        raise ClientError("the event stream kept dropping; gave up")

    def show(self, name: str, data: str) -> None:
        try:
            payload = json.loads(data) if data else {}
        except json.JSONDecodeError:
            payload = {"raw": data[:2000]}
        if not isinstance(payload, dict):
            payload = {"value": payload}
        if self.console.json_lines:
            self.console.show_json({"event": name, "id": self.last_id, "data": payload})
        if name == "partial_transcript":
            self.console.show_transcript({"type": "transcript", "value": payload.get("text", ""), "is_final": False})
        elif name == "final_transcript":
            self.finals += 1
            self.console.show_transcript(
                {
                    "type": "transcript",
                    "value": payload.get("text", ""),
                    "is_final": True,
                    "start": payload.get("t_start"),
                    "end": payload.get("t_end"),
                    "channel": payload.get("channel", 0),
                    "speaker": payload.get("speaker"),
                    "confidence": payload.get("confidence"),
                }
            )
        elif name == "summary_update":
            analysis = {key: payload[key] for key in ("sentiment", "emotion", "agent_score") if key in payload}
            analysis["summary"] = payload.get("overview", "")
            for key in ("process_issues", "repeated_problems", "marketing_mentions"):
                if key in payload:
                    analysis[key] = payload[key]
            self.console.show_analysis(analysis)
        elif name == "status":
            phase = str(payload.get("phase", ""))
            if phase != self.phase:
                self.phase = phase
                detail = f" ({payload['detail']})" if payload.get("detail") else ""
                self.console.show_notice(f"status: {phase}{detail}")
        elif name == "error":
            self.errors.append(payload)
            self.console.show_notice(f"server error {payload.get('code', '?')}: {payload.get('message', '')}")
        elif name == "done":
            self.done = payload


async def _post(http: httpx.AsyncClient, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
    """POST and return the JSON answer; `ClientError` naming `what` when refused."""
    response = await http.post(path, **kwargs)
    if response.status_code != 200:
        raise ClientError(f"{what} refused: HTTP {response.status_code} {_detail(response)}")
    body = response.json()
    if not isinstance(body, dict):
        raise ClientError(f"{what}: the server's answer is not a JSON object")
    return body


async def _send_chunks(
    http: httpx.AsyncClient,
    session: dict[str, Any],
    data: bytes,
    duration_s: float,
    options: HttpCallOptions,
    console: Console,
    stop: asyncio.Future[None],
) -> float:
    """Upload `data` in numbered chunks, paced like a live recording; returns the seconds of audio sent."""
    paced = 0 < options.speed < math.inf and duration_s > 0
    started = time.monotonic()
    endpoint = str(session["chunk_endpoint"])
    seq = int(session.get("next_chunk_seq", 0))
    sent = 0
    while sent < len(data) and not stop.done():
        chunk = data[sent : sent + options.chunk_bytes]
        spoken_s = duration_s * (sent + len(chunk)) / len(data)
        if paced:
            delay = started + spoken_s / options.speed - time.monotonic()
            if delay > 0:
                await asyncio.wait({stop}, timeout=delay)
                if stop.done():
                    break
        for attempt in range(SEND_ATTEMPTS):
            try:
                files = {"chunk": (f"chunk-{seq}.bin", chunk, "application/octet-stream")}
                response = await http.post(endpoint, data={"chunk_seq": str(seq)}, files=files)
                break
            except httpx.TransportError:
                if attempt == SEND_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.5 * (attempt + 1))
        if response.status_code != 200:
            raise ClientError(f"chunk {seq} refused: HTTP {response.status_code} {_detail(response)}")
        sent += len(chunk)
        seq += 1
        console.on_progress(spoken_s)
    return duration_s * sent / len(data) if data else 0.0


async def run_http_call(
    url: str, path: Path, duration_s: float, options: HttpCallOptions, console: Console
) -> CallOutcome:
    """One live-capture session for the file at `path` (its audio lasts `duration_s`)."""
    base = http_base_url(url)
    headers = {"X-API-Key": options.api_key} if options.api_key else {}
    if options.bearer_token:
        headers["Authorization"] = f"Bearer {options.bearer_token}"
    data = path.read_bytes()
    verify: ssl.SSLContext | bool = options.ssl_context if options.ssl_context is not None else True
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60, verify=verify) as http:
        try:
            body: dict[str, Any] = {"filename": path.name}
            if options.goal:
                body["goal"] = options.goal
            if options.language:
                body["language"] = options.language
            session = await _post(http, "/analyze/live/start", "the session", json=body)
        except httpx.TransportError as exc:
            tls = find_ssl_error(exc)
            raise ClientError(
                describe_tls_failure(tls, base) if tls is not None else f"cannot connect to {base}: {exc}"
            ) from None
        console.start(f"session {session.get('session_id', '?')} opened")
        events = _Events(http, str(session["events_endpoint"]), console)
        reader = asyncio.ensure_future(events.run())
        try:
            sent_s = await _send_chunks(http, session, data, duration_s, options, console, reader)
            if not reader.done():
                await _post(http, str(session["control_endpoint"]), "finalize", json={"action": "finalize"})
            done, _ = await asyncio.wait({reader}, timeout=options.close_timeout)
            if reader in done:
                reader.result()  # a ClientError from the event stream
        except httpx.TransportError as exc:
            raise ClientError(f"the connection to {base} failed: {exc}") from None
        finally:
            if not reader.done():
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
    done_payload = events.done
    notes = [f"session {session.get('session_id')} (conversation {session.get('conversation_id')})"]
    if done_payload is not None:
        artifacts = done_payload.get("artifacts")
        for name, artifact in artifacts.items() if isinstance(artifacts, dict) else []:
            if isinstance(artifact, dict):
                notes.append(f"{name}: {base}{artifact.get('url', '')}")
        reason = str(done_payload.get("reason", "completed"))
        ending = f"done ({reason})"
    else:
        reason, ending = "", "no 'done' event before the close timeout"
    if events.errors:
        ending = f"the server sent {len(events.errors)} error event(s); " + ending
    return CallOutcome(
        ok=done_payload is not None and reason == "completed" and not events.errors,
        ending=ending,
        finals=events.finals,
        audio_seconds=sent_s,
        elapsed_s=time.monotonic() - started,
        analysis=console.last_analysis,
        notes=tuple(notes),
    )
