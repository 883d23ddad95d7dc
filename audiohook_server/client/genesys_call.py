"""`audiohook-client --genesys`: one call as Genesys Cloud makes it, stereo kept, shown like every other door.

A Genesys admin wants to know, before registering the integration, that the server takes their API
key and client secret, that the signature survives their proxy (`Host`), and that customer and agent
come out on their own channels. So the call is made the way Genesys makes it (`genesys.GenesysClient`:
signed upgrade, `open` with the stereo offer, `ping` every 5 s, PCMU frames, `close`), with the file's
channels sent in the order asked for, secure pauses where asked for (`paused`, the audio of the pause
not sent, then `resumed` with `discarded`), and everything the server says checked against the
protocol. The summary names the problems found, the pong round trips and how the session ended.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from audiohook_server.client.console import Console
from audiohook_server.client.genesys import (
    RATE,
    GenesysClient,
    ProtocolFailure,
    ServerMessage,
    media_offer,
    parse_duration,
)
from audiohook_server.client.results import CallOutcome
from audiohook_server.client.session import ClientError, connection_failure
from audiohook_server.client.urls import redacted

__all__ = ["SPEAKERS", "GenesysCallOptions", "Pause", "parse_pause", "run_genesys_call"]

SPEAKERS = {"external": "customer", "internal": "agent"}
MAX_NOTED_PROBLEMS = 5
OPEN_TIMEOUT_S = 10.0  # GenesysClient.connect's


@dataclass(frozen=True)
class Pause:
    """A secure pause: at stream position `at_s`, `duration_s` seconds of audio are not sent."""

    at_s: float
    duration_s: float


def parse_pause(text: str) -> Pause:
    """`--pause-at SECONDS[+DURATION]`: `12` pauses at 12 s for 5 s, `12+3.5` for 3.5 s."""
    at_text, _, duration_text = text.partition("+")
    try:
        at_s = float(at_text)
        duration_s = float(duration_text) if duration_text else 5.0
    except ValueError:
        raise ValueError(f"--pause-at {text!r}: expected SECONDS or SECONDS+DURATION, e.g. 12 or 12+3.5") from None
    if not (math.isfinite(at_s) and math.isfinite(duration_s)) or at_s < 0 or duration_s <= 0:
        raise ValueError(f"--pause-at {text!r}: the position must be >= 0 and the duration > 0")
    return Pause(at_s, duration_s)


@dataclass(frozen=True, kw_only=True)
class GenesysCallOptions:
    """How the call is made: credentials, ids, the channels offered, pacing, pauses, timeouts."""

    api_key: str
    client_secret: str | None = None  # base64, as the Genesys admin UI shows it
    channels: tuple[str, ...] = ("external", "internal")  # the Genesys channel of each column of the audio
    audio_format: str = "PCMU"  # or L16
    language: str | None = None  # None: not sent (the server detects it)
    organization_id: str | None = None  # None: random UUIDs
    session_id: str | None = None
    conversation_id: str | None = None
    authority: str | None = None  # the Host signed (a proxy in front may rewrite it); None: the URL's
    speed: float = 1.0
    frame_ms: int = 200
    pauses: tuple[Pause, ...] = ()
    ping_interval_s: float = 5.0
    close_timeout: float = 120.0
    ssl_context: ssl.SSLContext | None = None


class _Shown:
    """Turns Genesys messages into what the console shows."""

    def __init__(self, console: Console, channels: tuple[str, ...]) -> None:
        self.console = console
        self.channels = channels

    def __call__(self, received: ServerMessage) -> None:
        if self.console.json_lines:
            self.console.show_json(received.message)
        kind = received.type
        if kind == "event":
            for entity in received.parameters.get("entities") or []:
                if isinstance(entity, dict):
                    self._entity(entity)
        elif kind == "disconnect":
            params = received.parameters
            info = f" ({params['info']})" if params.get("info") else ""
            self.console.show_notice(f"server disconnected: {params.get('reason', '?')}{info}")
        elif kind in ("pause", "resume"):
            self.console.show_notice(f"server asked to {kind}")

    def _entity(self, entity: dict[str, Any]) -> None:
        data = entity.get("data")
        if not isinstance(data, dict):
            return
        if entity.get("type") == "analysis":
            self.console.show_analysis(data)
        elif entity.get("type") == "transcript":
            shown = transcript_as_entity(data, self.channels)
            if shown is not None:
                self.console.show_transcript(shown)


def transcript_as_entity(data: dict[str, Any], channels: tuple[str, ...]) -> dict[str, Any] | None:
    """A Genesys transcript entity's data in the simple dialect's shape (what the console shows)."""
    try:
        alternative = data["alternatives"][0]
        text = str(alternative["interpretations"][0]["transcript"])
        offset = parse_duration(data["offset"])
        end = offset + parse_duration(data["duration"])
        channel = int(data["channelId"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    name = channels[channel] if 0 <= channel < len(channels) else ""
    confidence = alternative.get("confidence")
    return {
        "type": "transcript",
        "value": text,
        "is_final": bool(data.get("isFinal", True)),
        "start": offset,
        "end": end,
        "channel": channel,
        "speaker": SPEAKERS.get(name, name or "unknown"),
        **({"confidence": confidence} if isinstance(confidence, int | float) else {}),
    }


HINT_401 = (
    "; check --api-key and --client-secret (base64, as Genesys shows it), and --authority when a proxy in front "
    "of the server rewrites Host"
)


async def _connect(client: GenesysClient, url: str) -> None:
    try:
        await client.connect()
    except (InvalidURI, InvalidHandshake, OSError, TimeoutError) as exc:
        raise connection_failure(exc, redacted(url), OPEN_TIMEOUT_S, HINT_401) from None


async def _stream(
    client: GenesysClient,
    audio: npt.NDArray[np.int16],
    options: GenesysCallOptions,
    on_progress: Callable[[float], None],
) -> float:
    """Send the audio as a live call would, with the secure pauses; returns the seconds of audio sent."""
    step = RATE * options.frame_ms // 1000
    paced = 0 < options.speed < math.inf
    pauses = sorted(options.pauses, key=lambda pause: pause.at_s)
    started = time.monotonic()
    index, sent = 0, 0.0
    while index < audio.shape[0] and client.state == "active":
        pause = pauses[0] if pauses else None
        if pause is not None and index >= round(pause.at_s * RATE):
            pauses.pop(0)
            try:
                await client.pause()
                if paced:
                    await asyncio.sleep(pause.duration_s / options.speed)
                await client.resume(pause.duration_s)
            except ConnectionClosed:
                break
            index += min(round(pause.duration_s * RATE), audio.shape[0] - index)
            continue
        stop = index + step if pause is None else min(index + step, max(index + 1, round(pause.at_s * RATE)))
        frame = audio[index:stop]
        if paced:
            delay = started + stop / RATE / options.speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        else:
            await asyncio.sleep(0)
        if client.state != "active":
            break
        try:
            await client.send_audio(frame)
        except ConnectionClosed:
            break
        index = stop
        sent += frame.shape[0] / RATE
        on_progress(index / RATE)
    return sent


def _notes(client: GenesysClient) -> tuple[str, ...]:
    notes = []
    media = client.media
    if media is not None:
        notes.append(f"media: {media.get('format')} {media.get('rate')} Hz, channels {media.get('channels')}")
    if client.opened_latency is not None:
        notes.append(f"opened {1000 * client.opened_latency:.0f} ms after open")
    if client.rtts:
        rtts = [1000 * rtt for rtt in client.rtts]
        notes.append(f"{len(rtts)} pongs: median {statistics.median(rtts):.1f} ms, slowest {max(rtts):.1f} ms")
    if client.missing_pongs:
        notes.append(f"{len(client.missing_pongs)} ping(s) without a pong before the next one (Genesys: error 408)")
    problems = client.violations + client.schema_problems()
    for problem in problems[:MAX_NOTED_PROBLEMS]:
        notes.append(f"protocol problem: {problem}")
    if len(problems) > MAX_NOTED_PROBLEMS:
        notes.append(f"... and {len(problems) - MAX_NOTED_PROBLEMS} more protocol problems")
    return tuple(notes)


async def run_genesys_call(
    url: str, audio: npt.NDArray[np.int16], options: GenesysCallOptions, console: Console
) -> CallOutcome:
    """Make one call: `audio` is int16 at 8 kHz, one column per entry of `options.channels`.

    Raises `ClientError` when the call cannot start (refused, TLS, unreachable, no answer to `open`).
    """
    if audio.ndim != 2 or audio.shape[1] != len(options.channels):
        raise ValueError(f"expected one column per channel {options.channels}, got shape {audio.shape}")
    shown = _Shown(console, options.channels)
    client = GenesysClient(
        url,
        options.api_key,
        options.client_secret or None,
        organization_id=options.organization_id,
        session_id=options.session_id,
        authority=options.authority,
        ping_interval=options.ping_interval_s,
        ssl_context=options.ssl_context,
        on_message=shown,
    )
    await _connect(client, url)
    started = time.monotonic()
    sent = 0.0
    try:
        try:
            opened = await client.open(
                [media_offer(list(options.channels), options.audio_format)],
                conversation_id=options.conversation_id,
                language=options.language,
                supported_languages=True,
            )
        except ProtocolFailure:
            if client.last("disconnect") is None:
                raise ClientError("the server did not answer 'open' with 'opened' within 5 s") from None
            opened = None
        if opened is not None:
            console.start(f"session {client.session_id} opened")
            sent = await _stream(client, audio, options, console.on_progress)
            ending = await _close(client, options.close_timeout)
        else:
            ending = "the server did not open the session"
            await _close(client, 5.0)
    finally:
        await client.aclose()
    disconnect = client.last("disconnect")
    if disconnect is not None:
        reason = disconnect.parameters.get("reason", "?")
        ending = f"server disconnected ({reason}); " + ending
    problems = client.violations or client.schema_problems()
    ok = (
        client.last("opened") is not None
        and client.last("closed") is not None
        and (disconnect is None or disconnect.parameters.get("reason") == "completed")
        and not problems
    )
    return CallOutcome(
        ok=ok,
        ending=ending + (f"; {len(problems)} protocol problem(s)" if problems else ""),
        finals=len(client.finals()),
        audio_seconds=sent,
        elapsed_s=time.monotonic() - started,
        analysis=console.last_analysis,
        notes=_notes(client),
    )


async def _close(client: GenesysClient, timeout: float) -> str:
    """`close` and wait for `closed`; how it ended."""
    try:
        await client.close(timeout=timeout)
    except ProtocolFailure:
        if client.close_code is not None and client.last("closed") is None:
            return f"connection closed without 'closed' (close {client.close_code})"
        return f"no 'closed' from the server within {timeout:g} s"
    except ConnectionClosed as exc:  # the socket went away under the close exchange
        return f"connection closed while closing (close {exc.rcvd.code if exc.rcvd else None})"
    return f"closed normally ({client.close_code})"
