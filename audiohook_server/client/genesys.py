"""The Genesys side of the client: one AudioHook v2 session as Genesys Cloud runs it, from the protocol reference.

This client plays the part of Genesys Cloud (AudioHook Monitor / Transcription Connector). It is what
`audiohook-client --genesys` runs (`genesys_call.py`), so an admin can try a key, a client secret and a
proxy's `Host` before registering the integration, and what the conformance suite
(`tests/server/test_genesys_door.py`) and the Genesys benchmarks drive. It is written from Genesys's
published AudioHook protocol specification (developer.genesys.cloud, "AudioHook protocol"), not from
the server's code, so the suite checks the server against the specification rather than against itself.

What it does, as the specification describes Genesys:
- `connect()`: the WebSocket upgrade with the `Audiohook-*` and `X-API-KEY` headers and, when the key
  has a client secret, an RFC 9421 signature (label `sig1`, the six covered components, `keyid`,
  a fresh nonce, `alg="hmac-sha256"`, `created`, `expires`). Only the two primitives
  `protocol.httpsig.signature_base()` and `protocol.httpsig.sign()` are borrowed from the server's
  package: `tests/test_httpsig.py` checks both against the specification's golden vector. The
  Signature-Input serialisation, the components and their values are built here.
- every text message carries `version` "2", `id` (the session id), `type`, `seq` 1, 2, 3 …,
  `serverseq` (the last server `seq` received), `position` (ISO 8601 seconds of audio so far,
  discarded gaps included) and `parameters`;
- `open()` waits for `opened` (5 s, as Genesys) and records how long it took;
- pings 1 s after `opened`, then every `ping_interval` seconds, recording pong round trips and
  flagging a pong still missing when the next ping is due (what Genesys reports as error 408);
- `stream()` sends interleaved PCMU (a vectorized G.711 μ-law encoder below) or L16 frames of
  `frame_ms` (200 ms, as the reference client), paced like a live source (`speed` times real time);
- `pause()` / `resume()` / `discarded()` keep the stream position true across gaps;
- `update()`, `send_error()`, `close()` (waits for `closed`), and a server `disconnect` is answered
  with `close` reason `disconnect`.

Every server message is recorded with its arrival time and its envelope is validated; problems are
collected in `violations` (the tests assert it is empty). Transcript entities are parsed into
`TranscriptEntity` and checked against the specification's schema by `transcript_schema_problems`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import re
import secrets
import ssl
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from audiohook_server.client.tls import websocket_ssl
from protocol.httpsig import sign, signature_base

__all__ = [
    "COVERED_COMPONENTS",
    "DURATION_RE",
    "LANGUAGE_RE",
    "PROBE_ID",
    "SERVER_TYPES",
    "GenesysClient",
    "ServerMessage",
    "TranscriptEntity",
    "format_duration",
    "media_offer",
    "parse_duration",
    "signed_headers",
    "transcript_schema_problems",
    "ulaw_encode",
]

PROBE_ID = "00000000-0000-0000-0000-000000000000"
COVERED_COMPONENTS = (
    "@request-target",
    "@authority",
    "audiohook-organization-id",
    "audiohook-session-id",
    "audiohook-correlation-id",
    "x-api-key",
)
DURATION_RE = re.compile(r"^PT(\d*\.)?\d+S$")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}-[A-Za-z]{2,3}$")
SERVER_TYPES = frozenset({"opened", "pong", "closed", "pause", "resume", "updated", "event", "disconnect"})
DISCONNECT_REASONS = frozenset({"completed", "unauthorized", "error"})
MAX_TEXT_FRAME = 64 * 1024
RATE = 8000


# --------------------------------------------------------------------------------------------------
# Durations, media offers, μ-law


def format_duration(seconds: float) -> str:
    """ISO 8601 seconds-only duration: 0 → `PT0S`, 12.4 → `PT12.4S` (millisecond resolution)."""
    millis = round(max(0.0, seconds) * 1000)
    whole, frac = divmod(millis, 1000)
    return f"PT{whole}S" if frac == 0 else f"PT{whole}.{frac:03d}".rstrip("0") + "S"


def parse_duration(value: str) -> float:
    """Seconds of an ISO 8601 seconds-only duration; ValueError when it does not match the spec's regex."""
    if not isinstance(value, str) or not DURATION_RE.match(value):
        raise ValueError(f"not a PT…S duration: {value!r}")
    return float(value[2:-1])


def media_offer(channels: Sequence[str], fmt: str = "PCMU", rate: int = RATE) -> dict[str, Any]:
    """One entry of `open.parameters.media`, as Genesys offers it."""
    return {"type": "audio", "format": fmt, "channels": list(channels), "rate": rate}


def default_offers(fmt: str = "PCMU") -> list[dict[str, Any]]:
    """What Genesys typically offers: stereo, then external only, then internal only."""
    return [media_offer(["external", "internal"], fmt), media_offer(["external"], fmt), media_offer(["internal"], fmt)]


_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635


def ulaw_encode(samples: npt.ArrayLike) -> bytes:
    """G.711 μ-law encoding of int16 samples (vectorized; the inverse of the standard decoder)."""
    x = np.asarray(samples, dtype=np.int32).ravel()
    sign_bit = np.where(x < 0, 0x80, 0x00)
    magnitude = np.minimum(np.abs(x), _ULAW_CLIP) + _ULAW_BIAS  # 132 … 32767
    # exponent = position of the highest set bit above bit 7 (magnitude < 2**15, so 0 … 7)
    _, bit_length = np.frexp(magnitude.astype(np.float64))
    exponent = np.clip(bit_length.astype(np.int32) - 8, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    code = ~(sign_bit | (exponent << 4) | mantissa) & 0xFF
    encoded: bytes = code.astype(np.uint8).tobytes()
    return encoded


def encode_frame(samples: npt.NDArray[np.int16], fmt: str) -> bytes:
    """Interleave (frames, channels) samples into one binary frame: PCMU bytes or L16 little-endian."""
    interleaved = np.ascontiguousarray(samples).reshape(-1)
    if fmt == "PCMU":
        return ulaw_encode(interleaved)
    if fmt == "L16":
        return interleaved.astype("<i2").tobytes()
    raise ValueError(f"unsupported format {fmt!r}")


# --------------------------------------------------------------------------------------------------
# Signing


def _sf_string(value: str) -> str:
    if any(ord(c) < 0x20 or ord(c) > 0x7E for c in value):
        raise ValueError(f"not an RFC 8941 string: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def signed_headers(
    *,
    request_target: str,
    authority: str,
    api_key: str,
    organization_id: str,
    session_id: str,
    correlation_id: str,
    secret: bytes | None,
    nonce: str | None = None,
    created: int | None = None,
    expires: int | None = None,
    expires_in: int = 60,
    alg: str = "hmac-sha256",
    keyid: str | None = None,
    components: Sequence[str] = COVERED_COMPONENTS,
) -> dict[str, str]:
    """The upgrade request's AudioHook headers, signed when `secret` (the base64-DECODED secret) is given."""
    headers = {
        "Audiohook-Organization-Id": organization_id,
        "Audiohook-Session-Id": session_id,
        "Audiohook-Correlation-Id": correlation_id,
        "X-API-KEY": api_key,
    }
    if secret is None:
        return headers
    created = int(time.time()) if created is None else created
    expires = created + expires_in if expires is None else expires
    nonce = secrets.token_urlsafe(24) if nonce is None else nonce  # 32 characters
    values = {
        "@request-target": request_target,
        "@authority": authority,
        "audiohook-organization-id": organization_id,
        "audiohook-session-id": session_id,
        "audiohook-correlation-id": correlation_id,
        "x-api-key": api_key,
    }
    inner = "(" + " ".join(_sf_string(c) for c in components) + ")"
    params = (
        f"{inner};keyid={_sf_string(api_key if keyid is None else keyid)};nonce={_sf_string(nonce)}"
        f";alg={_sf_string(alg)};created={created};expires={expires}"
    )
    digest = sign(secret, signature_base({c: values[c] for c in components}, params))
    headers["Signature-Input"] = f"sig1={params}"
    headers["Signature"] = f"sig1=:{digest}:"
    return headers


# --------------------------------------------------------------------------------------------------
# What the client records


@dataclass
class ServerMessage:
    """One server text message as received."""

    at: float  # time.monotonic() at arrival
    message: dict[str, Any]
    raw_size: int

    @property
    def type(self) -> str:
        return str(self.message.get("type"))

    @property
    def parameters(self) -> dict[str, Any]:
        params = self.message.get("parameters")
        return params if isinstance(params, dict) else {}


@dataclass
class TranscriptEntity:
    """A `transcript` entity of an `event`, with offsets in seconds."""

    at: float
    id: str
    channel_id: int
    is_final: bool
    offset: float
    duration: float
    transcript: str
    confidence: float
    tokens: list[dict[str, Any]]
    data: dict[str, Any]

    @property
    def end(self) -> float:
        return self.offset + self.duration


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


TOKEN_KEYS = ("type", "value", "confidence", "offset", "duration")


def _keys(obj: dict[str, Any], required: Iterable[str], where: str) -> list[str]:
    problems = []
    required = set(required)
    missing = required - obj.keys()
    extra = obj.keys() - required
    if missing:
        problems.append(f"{where}: missing {sorted(missing)}")
    if extra:
        problems.append(f"{where}: keys not in the schema {sorted(extra)}")
    return problems


def transcript_schema_problems(data: Any, channel_count: int | None = None) -> list[str]:
    """Where a transcript entity's `data` departs from the specification's schema (empty: conforms).

    Every field of the specification's example is required, except `tokens` on partials (isFinal
    false): the reference implementation's types make `tokens` optional, and a partial's words have no
    reliable timing. A token's optional `language` is allowed.
    """
    if not isinstance(data, dict):
        return [f"data is {type(data).__name__}, not an object"]
    problems = _keys(data, ("id", "channelId", "isFinal", "offset", "duration", "alternatives"), "data")
    try:
        uuid.UUID(str(data.get("id")))
    except ValueError:
        problems.append(f"data.id {data.get('id')!r} is not a UUID")
    channel = data.get("channelId")
    if not isinstance(channel, int) or isinstance(channel, bool) or channel < 0:
        problems.append(f"channelId {channel!r} is not a channel index")
    elif channel_count is not None and channel >= channel_count:
        problems.append(f"channelId {channel} indexes no selected channel (of {channel_count})")
    if not isinstance(data.get("isFinal"), bool):
        problems.append(f"isFinal {data.get('isFinal')!r} is not a boolean")
    span: tuple[float, float] | None = None
    try:
        start = parse_duration(data.get("offset"))  # type: ignore[arg-type]
        span = (start, start + parse_duration(data.get("duration")))  # type: ignore[arg-type]
    except ValueError as exc:
        problems.append(f"entity offset/duration: {exc}")
    alternatives = data.get("alternatives")
    if not isinstance(alternatives, list) or not alternatives:
        return [*problems, "alternatives is not a non-empty list"]
    for a, alt in enumerate(alternatives):
        where = f"alternatives[{a}]"
        if not isinstance(alt, dict):
            problems.append(f"{where} is not an object")
            continue
        problems += _keys(alt, ("confidence", "languages", "interpretations"), where)
        if not _number(alt.get("confidence")) or not 0 <= alt["confidence"] <= 1:
            problems.append(f"{where}.confidence {alt.get('confidence')!r} is not in [0, 1]")
        languages = alt.get("languages")
        if not _language_codes(languages):
            problems.append(f"{where}.languages {languages!r} is not a list of codes like en-US")
        interpretations = alt.get("interpretations")
        if not isinstance(interpretations, list) or not interpretations:
            problems.append(f"{where}.interpretations is not a non-empty list")
            continue
        for i, interp in enumerate(interpretations):
            need_tokens = data.get("isFinal") is not False
            problems += _interpretation_problems(interp, f"{where}.interpretations[{i}]", span, need_tokens)
    return problems


def _interpretation_problems(interp: Any, where: str, span: tuple[float, float] | None, need_tokens: bool) -> list[str]:
    if not isinstance(interp, dict):
        return [f"{where} is not an object"]
    if not need_tokens and "tokens" not in interp:
        interp = {**interp, "tokens": []}
    problems = _keys(interp, ("type", "transcript", "tokens"), where)
    if interp.get("type") != "display":
        problems.append(f"{where}.type {interp.get('type')!r} is not 'display'")
    if not isinstance(interp.get("transcript"), str):
        problems.append(f"{where}.transcript is not a string")
    tokens = interp.get("tokens")
    if not isinstance(tokens, list):
        return [*problems, f"{where}.tokens is not a list"]
    offsets: list[float] = []
    for t, token in enumerate(tokens):
        tw = f"{where}.tokens[{t}]"
        if not isinstance(token, dict):
            problems.append(f"{tw} is not an object")
            continue
        problems += _keys({k: v for k, v in token.items() if k != "language"}, TOKEN_KEYS, tw)
        if "language" in token and not _language_codes([token["language"]]):
            problems.append(f"{tw}.language {token['language']!r} is not a code like en-US")
        if token.get("type") != "word":
            problems.append(f"{tw}.type {token.get('type')!r} is not 'word'")
        if not isinstance(token.get("value"), str) or not token.get("value"):
            problems.append(f"{tw}.value {token.get('value')!r} is not a word")
        if not _number(token.get("confidence")) or not 0 <= token["confidence"] <= 1:
            problems.append(f"{tw}.confidence {token.get('confidence')!r} is not in [0, 1]")
        try:
            start = parse_duration(token.get("offset"))  # type: ignore[arg-type]
            end = start + parse_duration(token.get("duration"))  # type: ignore[arg-type]
        except ValueError as exc:
            problems.append(f"{tw}: {exc}")
            continue
        offsets.append(start)
        if span is not None and (start < span[0] - 0.0015 or end > span[1] + 0.0015):
            problems.append(f"{tw} [{start:.3f}, {end:.3f}] s is outside the entity's span {span}")
    if len(set(offsets)) != len(offsets):
        problems.append(f"{where}: token offsets are not unique {offsets}")
    return problems


# --------------------------------------------------------------------------------------------------
# The client


def _participant() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "ani": "tel:+14155550100", "aniName": "Test Caller", "dnis": "tel:+18005550199"}


def _language_codes(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) and LANGUAGE_RE.match(x) for x in value)


class ProtocolFailure(Exception):
    """The server did not answer as the specification says (a timeout, a refusal)."""


class GenesysClient:
    """One AudioHook session as Genesys runs it. Use `async with GenesysClient(...)` or connect/aclose."""

    def __init__(
        self,
        url: str,
        api_key: str,
        secret: bytes | str | None = None,
        *,
        organization_id: str | None = None,
        session_id: str | None = None,
        correlation_id: str | None = None,
        authority: str | None = None,
        ping_interval: float = 5.0,
        first_ping_delay: float = 1.0,
        auto_ping: bool = True,
        expires_in: int = 60,
        ssl_context: ssl.SSLContext | None = None,
        on_message: Callable[[ServerMessage], None] | None = None,
    ) -> None:
        self.url = url
        self.api_key = api_key
        # Genesys holds the secret base64-encoded; the HMAC key is its decoded bytes.
        self.secret = base64.b64decode(secret, validate=True) if isinstance(secret, str) else secret
        self.organization_id = organization_id or str(uuid.uuid4())
        self.session_id = session_id or str(uuid.uuid4())
        self.disconnect_answer_delay_s = 0.0  # how long the client takes to answer `disconnect` with `close`
        self.correlation_id = correlation_id or str(uuid.uuid4())
        parts = urlsplit(url)
        self.authority = authority or parts.netloc
        self.request_target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.ping_interval = ping_interval
        self.first_ping_delay = first_ping_delay
        self.auto_ping = auto_ping
        self.expires_in = expires_in
        self.ssl_context = ssl_context  # for wss:// (None: the system's default trust)
        self.on_message = on_message  # called with every server message as it arrives

        self.ws: ClientConnection | None = None
        self.seq = 0  # last seq sent
        self.server_seq = 0  # last server seq received
        self.position = 0.0  # seconds of stream timeline: audio sent plus discarded gaps
        self.audio_bytes = 0
        self.offers: list[dict[str, Any]] = []
        self.media: dict[str, Any] | None = None  # the selected offer
        self.messages: list[ServerMessage] = []
        self.violations: list[str] = []
        self.sent: list[dict[str, Any]] = []
        self.open_sent_at: float | None = None
        self.opened_latency: float | None = None
        self.close_sent_at: float | None = None
        self.closed_latency: float | None = None
        self.pings: dict[int, float] = {}  # seq -> sent at (outstanding)
        self.ping_seqs: list[int] = []
        self.rtts: list[float] = []
        self.missing_pongs: list[int] = []
        self.paused = False
        self._pause_start: float | None = None
        self._last_clientseq = 0
        self.sent_seq: dict[str, Any] = {}  # seq of the `open` and the `close` sent
        self.state = "new"  # new, opening, active, closing, closed, disconnected
        self.close_code: int | None = None
        self._opened = asyncio.Event()
        self._closed = asyncio.Event()
        self._disconnect = asyncio.Event()
        self._updated = asyncio.Event()
        self._arrival = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._send_lock = asyncio.Lock()

    # -- connection ---------------------------------------------------------------------------------

    def headers(self, **overrides: Any) -> dict[str, str]:
        """The upgrade headers, freshly signed (new nonce, created now) when the client has a secret."""
        return signed_headers(
            request_target=self.request_target,
            authority=self.authority,
            api_key=self.api_key,
            organization_id=self.organization_id,
            session_id=self.session_id,
            correlation_id=self.correlation_id,
            secret=self.secret,
            expires_in=self.expires_in,
            **overrides,
        )

    async def connect(self, headers: Mapping[str, str] | None = None) -> GenesysClient:
        """Open the WebSocket; raises websockets' InvalidStatus when the upgrade is refused (e.g. 401)."""
        self.ws = await connect(
            self.url,
            additional_headers=dict(self.headers() if headers is None else headers),
            max_size=None,
            open_timeout=10,
            ping_interval=None,
            ssl=websocket_ssl(self.url, self.ssl_context),
        )
        self._reader = asyncio.create_task(self._read(), name=f"genesys-read-{self.session_id[:8]}")
        return self

    async def __aenter__(self) -> GenesysClient:
        if self.ws is None:
            await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop pinging and close the WebSocket (without the protocol's close exchange)."""
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pinger
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)

    # -- sending ------------------------------------------------------------------------------------

    def envelope(self, type_: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        """The next message: version, id, type, seq, serverseq, position, parameters."""
        self.seq += 1
        return {
            "version": "2",
            "id": self.session_id,
            "type": type_,
            "seq": self.seq,
            "serverseq": self.server_seq,
            "position": format_duration(self.position),
            "parameters": {} if parameters is None else parameters,
        }

    async def send(self, type_: str, parameters: dict[str, Any] | None = None, **patch: Any) -> dict[str, Any]:
        """Send one message. `patch` overrides envelope fields (a value of `...` removes the field)."""
        assert self.ws is not None, "not connected"
        async with self._send_lock:
            message = self.envelope(type_, parameters)
            for key, value in patch.items():
                if value is ...:
                    message.pop(key, None)
                else:
                    message[key] = value
            self.sent.append(message)
            if message.get("type") in {"open", "close"}:
                self.sent_seq[str(message["type"])] = message.get("seq")
            if message.get("type") == "ping" and isinstance(message.get("seq"), int):
                self.pings[message["seq"]] = time.monotonic()  # before sending: the pong may come at once
                self.ping_seqs.append(message["seq"])
            await self.ws.send(json.dumps(message))
        return message

    async def send_raw(self, data: str | bytes) -> None:
        """Send a frame as is (for malformed-input tests); a text frame does not advance `seq`."""
        assert self.ws is not None, "not connected"
        await self.ws.send(data)

    def open_parameters(
        self,
        media: list[dict[str, Any]] | None = None,
        conversation_id: str | None = None,
        participant: dict[str, Any] | None = None,
        language: str | None = None,
        supported_languages: bool | None = None,
        custom_config: dict[str, Any] | None = None,
        organization_id: str | None = None,
    ) -> dict[str, Any]:
        """The parameters of an `open` message (and remember the offers, to check `opened` against)."""
        self.offers = default_offers() if media is None else media
        parameters: dict[str, Any] = {
            "organizationId": organization_id or self.organization_id,
            "conversationId": conversation_id or str(uuid.uuid4()),
            "participant": participant or _participant(),
            "media": self.offers,
        }
        if language is not None:
            parameters["language"] = language
        if supported_languages is not None:
            parameters["supportedLanguages"] = supported_languages
        if custom_config is not None:
            parameters["customConfig"] = custom_config
        return parameters

    async def open(
        self,
        media: list[dict[str, Any]] | None = None,
        conversation_id: str | None = None,
        participant: dict[str, Any] | None = None,
        language: str | None = None,
        supported_languages: bool | None = None,
        custom_config: dict[str, Any] | None = None,
        *,
        organization_id: str | None = None,
        timeout: float = 5.0,
        wait: bool = True,
    ) -> ServerMessage | None:
        """Send `open` and wait for `opened` (Genesys gives up after 5 s); returns the `opened` message.

        With `wait=False` it returns None at once (for sessions the server should refuse).
        """
        parameters = self.open_parameters(
            media, conversation_id, participant, language, supported_languages, custom_config, organization_id
        )
        self.state = "opening"
        self.open_sent_at = time.monotonic()
        await self.send("open", parameters)
        if not wait:
            return None
        await self._wait(self._opened, timeout, "opened")
        return self.last("opened")

    def start_pinging(self) -> None:
        if self._pinger is None:
            self._pinger = asyncio.create_task(self._ping_loop(), name=f"genesys-ping-{self.session_id[:8]}")

    async def ping(self) -> None:
        """Send one `ping`; a pong still missing from the previous one is recorded (Genesys: error 408)."""
        for seq in list(self.pings):
            self.missing_pongs.append(seq)
            self.violations.append(f"no pong for ping seq {seq} by the next ping")
            del self.pings[seq]
        parameters = {"rtt": format_duration(self.rtts[-1])} if self.rtts else {}
        await self.send("ping", parameters)

    async def _ping_loop(self) -> None:
        await asyncio.sleep(self.first_ping_delay)
        while self.state in {"active", "opening"}:
            await self.ping()
            await asyncio.sleep(self.ping_interval)

    @property
    def channels(self) -> list[str]:
        return list(self.media["channels"]) if self.media else []

    async def send_audio(self, samples: npt.NDArray[np.int16], fmt: str | None = None) -> None:
        """Send one binary frame of (frames, channels) samples and advance the position."""
        assert self.ws is not None, "not connected"
        fmt = fmt or (self.media or {}).get("format", "PCMU")
        data = encode_frame(samples, str(fmt))
        async with self._send_lock:
            await self.ws.send(data)
        self.audio_bytes += len(data)
        self.position += samples.shape[0] / RATE

    async def stream(
        self,
        samples: npt.NDArray[np.int16],
        fmt: str | None = None,
        frame_ms: int = 200,
        speed: float = 1.0,
    ) -> None:
        """Send the samples in `frame_ms` frames, each when a live source would have spoken it (÷ speed).

        `samples` is int16 at 8 kHz, shaped (frames, channels) in the order of the selected channels
        (or 1-D for one channel). A `speed` of 0 or inf sends as fast as the connection takes it.
        """
        if samples.ndim == 1:
            samples = samples[:, None]
        if self.media is not None and samples.shape[1] != len(self.channels):
            raise ValueError(f"{samples.shape[1]} columns for the selected channels {self.channels}")
        step = RATE * frame_ms // 1000
        start = time.monotonic()
        for i in range(0, samples.shape[0], step):
            chunk = samples[i : i + step]
            if 0 < speed < math.inf:
                due = start + (i + chunk.shape[0]) / RATE / speed
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)
            if self.state not in {"active"}:
                break  # disconnected or closed under us
            await self.send_audio(chunk, fmt)

    async def pause(self) -> None:
        """The client pauses its audio (e.g. the call is on secure hold): `paused`."""
        await self.send("paused", {})
        self.paused = True
        self._pause_start = self.position

    async def resume(self, discarded_s: float) -> None:
        """`resumed` with `start` (where the pause began) and `discarded` (audio not sent meanwhile)."""
        start = self.position if self._pause_start is None else self._pause_start
        self.position += discarded_s
        await self.send("resumed", {"start": format_duration(start), "discarded": format_duration(discarded_s)})
        self.paused = False

    async def discarded(self, start: float | None, discarded_s: float) -> None:
        """`discarded`: the audio from `start` (default: now) for `discarded_s` seconds was dropped."""
        start = self.position if start is None else start
        self.position = max(self.position, start + discarded_s)
        await self.send("discarded", {"start": format_duration(start), "discarded": format_duration(discarded_s)})

    async def update(self, language: str, timeout: float = 5.0) -> ServerMessage | None:
        """`update` the language; waits for `updated` (optional in the spec: None when none came)."""
        self._updated.clear()
        await self.send("update", {"language": language})
        try:
            await asyncio.wait_for(self._updated.wait(), timeout)
        except TimeoutError:
            return None
        return self.last("updated")

    async def send_error(self, code: int, message: str, retry_after: float | None = None) -> None:
        parameters: dict[str, Any] = {"code": code, "message": message}
        if retry_after is not None:
            parameters["retryAfter"] = format_duration(retry_after)
        await self.send("error", parameters)

    async def close(self, reason: str = "end", timeout: float = 10.0, linger: float = 0.5) -> ServerMessage:
        """Send `close`, wait `timeout` for `closed` (Genesys: 10 s; add time for pending finals), close the socket.

        After `closed` the socket stays open `linger` seconds, so a late message is still recorded.
        """
        if self._pinger is not None:
            self._pinger.cancel()
        if self.state not in {"closing", "closed"}:  # not already closing (a disconnect answered)
            self.state = "closing"
            self.close_sent_at = time.monotonic()
            await self.send("close", {"reason": reason})
        await self._wait(self._closed, timeout, "closed")
        await asyncio.sleep(linger)
        await self.aclose()
        closed = self.last("closed")
        assert closed is not None
        return closed

    async def wait_disconnect(self, timeout: float = 10.0) -> ServerMessage:
        """Wait for a server `disconnect` (the client answers it with `close` reason `disconnect`)."""
        await self._wait(self._disconnect, timeout, "disconnect")
        disconnect = self.last("disconnect")
        assert disconnect is not None
        return disconnect

    async def wait_for(self, kind: str, timeout: float = 10.0) -> ServerMessage:
        """Wait until a server message of this type has been received (at any time); return the last one."""
        deadline = time.monotonic() + timeout
        while (found := self.last(kind)) is None:
            self._arrival.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProtocolFailure(f"no {kind} within {timeout:.1f} s; got {self.types()}")
            await self._wait(self._arrival, remaining, kind)
        return found

    async def wait_closed(self, timeout: float = 10.0) -> ServerMessage:
        await self._wait(self._closed, timeout, "closed")
        closed = self.last("closed")
        assert closed is not None
        return closed

    async def _wait(self, event: asyncio.Event, timeout: float, what: str) -> None:
        waiter = asyncio.create_task(event.wait())
        reader = self._reader
        assert reader is not None
        done, _ = await asyncio.wait({waiter, reader}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            ended = f" (socket closed, code {self.close_code})" if reader.done() else ""
            raise ProtocolFailure(f"no {what} within {timeout:.1f} s{ended}; got {self.types()}")

    # -- receiving ----------------------------------------------------------------------------------

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for frame in self.ws:
                at = time.monotonic()
                if isinstance(frame, bytes):
                    self.violations.append(f"unexpected binary frame from the server ({len(frame)} bytes)")
                    continue
                await self._receive(frame, at)
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            if self.state != "closed":
                self.state = "disconnected"
            if self._pinger is not None:
                self._pinger.cancel()

    async def _receive(self, frame: str, at: float) -> None:
        size = len(frame.encode("utf-8"))
        if size > MAX_TEXT_FRAME:
            self.violations.append(f"server text frame of {size} bytes exceeds 64 KiB")
        try:
            message = json.loads(frame)
        except ValueError:
            self.violations.append(f"server sent a text frame that is not JSON: {frame[:200]!r}")
            return
        if not isinstance(message, dict):
            self.violations.append(f"server message is not a JSON object: {frame[:200]!r}")
            return
        received = ServerMessage(at, message, size)
        self._validate(message)
        self.messages.append(received)
        self._arrival.set()
        if self.on_message is not None:
            self.on_message(received)
        kind = message.get("type")
        if kind == "opened":
            self.opened_latency = at - (self.open_sent_at or at)
            media = received.parameters.get("media")
            self.media = media[0] if isinstance(media, list) and media and isinstance(media[0], dict) else None
            self.state = "active"
            self._opened.set()
            if self.auto_ping:
                self.start_pinging()
        elif kind == "pong":
            ping_seq = message.get("clientseq")
            sent_at = self.pings.pop(ping_seq, None) if isinstance(ping_seq, int) else None
            if sent_at is not None:
                self.rtts.append(at - sent_at)
        elif kind == "updated":
            self._updated.set()
        elif kind == "closed":
            self.closed_latency = at - self.close_sent_at if self.close_sent_at is not None else None
            self.state = "closed"
            self._closed.set()
        elif kind == "disconnect":
            self._disconnect.set()
            if self.state not in {"closing", "closed"}:
                self.state = "closing"
                if self._pinger is not None:
                    self._pinger.cancel()
                if self.disconnect_answer_delay_s:  # a slow network or a busy Genesys edge
                    await asyncio.sleep(self.disconnect_answer_delay_s)
                self.close_sent_at = time.monotonic()
                with contextlib.suppress(ConnectionClosed):
                    await self.send("close", {"reason": "disconnect"})

    def _validate(self, message: dict[str, Any]) -> None:
        """Check one server message against the envelope rules; record what is wrong."""
        kind = message.get("type")
        tag = f"server {kind!r} (seq {message.get('seq')!r})"

        def bad(text: str) -> None:
            self.violations.append(f"{tag}: {text}")

        if message.get("version") != "2":
            bad(f"version is {message.get('version')!r}, not '2'")
        if message.get("id") != self.session_id:
            bad(f"id {message.get('id')!r} is not the session id {self.session_id}")
        if kind not in SERVER_TYPES:
            bad("is not a server message type")
        seq = message.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            bad("has no integer seq")
        else:
            if seq != self.server_seq + 1:
                bad(f"seq {seq} does not follow {self.server_seq}")
            self.server_seq = seq
        clientseq = message.get("clientseq")
        if not isinstance(clientseq, int) or isinstance(clientseq, bool):
            bad(f"clientseq {clientseq!r} is not an integer")
        else:
            if clientseq > self.seq:
                bad(f"clientseq {clientseq} is ahead of the last seq sent ({self.seq})")
            if clientseq < self._last_clientseq:
                bad(f"clientseq {clientseq} went back from {self._last_clientseq}")
            self._last_clientseq = clientseq
        parameters = message.get("parameters")
        if not isinstance(parameters, dict):
            bad(f"parameters {parameters!r} is not an object")
            parameters = {}
        if self.state == "closed":
            bad("arrived after 'closed'")
        if kind == "pong":
            outstanding = sorted(self.pings)
            if not outstanding or clientseq != outstanding[0]:
                bad(f"pong clientseq {clientseq} is not the seq of the ping it answers {outstanding}")
        elif kind == "opened":
            if self.state != "opening":
                bad(f"opened in state {self.state}")
            if clientseq != self.sent_seq.get("open"):
                bad(f"opened clientseq {clientseq} is not the open's seq {self.sent_seq.get('open')}")
            media = parameters.get("media")
            if not isinstance(media, list) or len(media) > 1:
                bad(f"opened.media {media!r} is not a list of at most one offer")
            elif media and media[0] not in self.offers:
                bad(f"opened.media {media[0]!r} is none of the offers")
            languages = parameters.get("supportedLanguages")
            if languages is not None and not _language_codes(languages):
                bad(f"supportedLanguages {languages!r} is not a list of codes like en-US")
        elif kind == "event":
            if self.state not in {"active", "closing"}:
                bad(f"event in state {self.state}")
            entities = parameters.get("entities")
            if not isinstance(entities, list) or not entities:
                bad("event without a non-empty entities list")
            else:
                for entity in entities:
                    if not isinstance(entity, dict) or not isinstance(entity.get("type"), str) or "data" not in entity:
                        bad(f"entity {entity!r} is not {{type: string, data: JSON}}")
        elif kind == "disconnect":
            if parameters.get("reason") not in DISCONNECT_REASONS:
                bad(f"disconnect reason {parameters.get('reason')!r} is not completed/unauthorized/error")
            if "info" in parameters and not isinstance(parameters["info"], str):
                bad("disconnect info is not a string")
        elif kind in {"closed", "pause", "resume", "updated"} and parameters:
            bad(f"parameters {parameters!r} should be {{}}")
        if kind == "closed" and self.state != "closing":
            bad(f"closed without a close (state {self.state})")
        if kind == "closed" and clientseq != self.sent_seq.get("close"):
            bad(f"closed clientseq {clientseq} is not the close's seq {self.sent_seq.get('close')}")

    # -- views --------------------------------------------------------------------------------------

    def types(self) -> list[str]:
        return [m.type for m in self.messages]

    def of_type(self, kind: str) -> list[ServerMessage]:
        return [m for m in self.messages if m.type == kind]

    def last(self, kind: str) -> ServerMessage | None:
        found = self.of_type(kind)
        return found[-1] if found else None

    def entities(self, kind: str | None = None) -> list[tuple[ServerMessage, dict[str, Any]]]:
        """(event, entity) for every entity of every event, optionally only of one type."""
        out = []
        for m in self.of_type("event"):
            for entity in m.parameters.get("entities") or []:
                if isinstance(entity, dict) and (kind is None or entity.get("type") == kind):
                    out.append((m, entity))
        return out

    def transcripts(self, final: bool | None = None) -> list[TranscriptEntity]:
        """Transcript entities (only finals, only partials, or all), in arrival order."""
        out = []
        for m, entity in self.entities("transcript"):
            data = entity.get("data")
            if not isinstance(data, dict):
                continue
            try:
                alt = data["alternatives"][0]
                interp = alt["interpretations"][0]
                parsed = TranscriptEntity(
                    at=m.at,
                    id=str(data["id"]),
                    channel_id=int(data["channelId"]),
                    is_final=bool(data["isFinal"]),
                    offset=parse_duration(data["offset"]),
                    duration=parse_duration(data["duration"]),
                    transcript=str(interp["transcript"]),
                    confidence=float(alt["confidence"]),
                    tokens=list(interp.get("tokens") or []),
                    data=data,
                )
            except (KeyError, IndexError, TypeError, ValueError):
                continue  # transcript_schema_problems says why
            if final is None or parsed.is_final == final:
                out.append(parsed)
        return out

    def finals(self) -> list[TranscriptEntity]:
        return self.transcripts(final=True)

    def partials(self) -> list[TranscriptEntity]:
        return self.transcripts(final=False)

    def schema_problems(self) -> list[str]:
        """Schema problems of every transcript entity received."""
        problems = []
        for m, entity in self.entities("transcript"):
            for problem in transcript_schema_problems(entity.get("data"), len(self.channels) or None):
                problems.append(f"event seq {m.message.get('seq')}: {problem}")
        return problems
