"""The `audiohook-client` command: its arguments, one streamed file, and the exit code a script can act on.

Everything here is about the command line (flags, their checks, the environment variables, reading
the input, which door to use, what a failure prints and which exit code it gets); each door's session
is its own module (`session` for the simple dialect, `genesys_call`, `jwt_call`, `http_call`) and the
output is `Console`, so a script that wants a session without the command calls those instead.

    audiohook-client ws://127.0.0.1:8080/audiohook call.wav --api-key KEY --speed 4            # simple dialect
    audiohook-client ws://127.0.0.1:8080/audiohook stereo.wav --genesys --client-secret B64   # as Genesys
    audiohook-client ws://127.0.0.1:8080/ws/transcribe call.wav --jwt TOKEN                   # JWT door
    audiohook-client http://127.0.0.1:8080 call.webm --live-http --api-key KEY                # HTTP + SSE
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import math
import os
import ssl
import sys
import uuid
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from audiohook_server.client.audio_input import DecodedAudio, read_audio
from audiohook_server.client.console import Console
from audiohook_server.client.genesys_call import SPEAKERS, GenesysCallOptions, parse_pause, run_genesys_call
from audiohook_server.client.http_call import HttpCallOptions, http_base_url, run_http_call
from audiohook_server.client.jwt_call import JwtCallOptions, run_jwt_call
from audiohook_server.client.results import CallOutcome
from audiohook_server.client.session import ClientError, stream_audio
from audiohook_server.client.tls import client_ssl_context
from audiohook_server.settings import ConfigurationError, parse_api_keys

API_KEY_ENV = "AUDIOHOOK_API_KEY"
SERVER_KEYS_ENV = "AUDIOHOOK_API_KEYS"  # the server's: KEY or KEY:BASE64SECRET, comma-separated
CLIENT_SECRET_ENV = "AUDIOHOOK_CLIENT_SECRET"
JWT_ENV = "AUDIOHOOK_JWT"

EXIT_OK = 0
EXIT_SESSION_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


class UsageError(Exception):
    """A flag, a combination of flags or the input file is wrong; the message says which and why."""


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _positive_float(text: str) -> float:
    value = _number(text)
    if math.isnan(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def _speed(text: str) -> float:
    value = _number(text)
    if math.isnan(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be 0, a positive number or inf, got {text!r}")
    return value


def _frame_ms(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= value <= 60_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 60000 ms, got {value}")
    return value


def _pause(text: str) -> Any:
    try:
        return parse_pause(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _channels(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not 1 <= len(names) <= 2 or len(set(names)) != len(names) or any(name not in SPEAKERS for name in names):
        raise argparse.ArgumentTypeError(
            f"expected external,internal or internal,external (or one of them), got {text!r}"
        )
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audiohook-client",
        description=(
            "Stream an audio file to an AudioHook server and show the live transcript: the simple dialect by "
            "default, Genesys AudioHook with --genesys, the JWT door on a /ws/transcribe URL, or the HTTP "
            "live-capture API with --live-http."
        ),
        epilog=(
            f"Environment: ${API_KEY_ENV} (the key), else the first key of ${SERVER_KEYS_ENV} (the server's "
            f"KEY:BASE64SECRET list, whose secret then signs --genesys requests); ${CLIENT_SECRET_ENV}; ${JWT_ENV}. "
            "Exit status: 0 the call ended normally, 1 the server reported an error or the call ended abnormally, "
            "2 a usage, input or connection error, 130 interrupted."
        ),
    )
    parser.add_argument(
        "url",
        metavar="URL",
        help="ws(s)://HOST:PORT/audiohook, ws(s)://HOST:PORT/ws/transcribe, or http(s)://HOST:PORT with --live-http",
    )
    parser.add_argument(
        "audio",
        metavar="FILE",
        help="audio file FFmpeg can decode: WAV (PCM, μ-law, A-law), MP3, Ogg/Opus, WebM, MP4; .pcm/.raw as 16 kHz",
    )
    door = parser.add_argument_group("door (default: the simple dialect, PCM16 16 kHz mono)")
    only_one = door.add_mutually_exclusive_group()
    only_one.add_argument(
        "--genesys", action="store_true", help="speak Genesys AudioHook v2: signed, stereo kept, pings every 5 s"
    )
    only_one.add_argument(
        "--live-http", action="store_true", help="use the HTTP live-capture API (/analyze/live/*): chunks and SSE"
    )
    auth = parser.add_argument_group("credentials")
    auth.add_argument("--api-key", default=None, help=f"the API key (default: ${API_KEY_ENV}, else ${SERVER_KEYS_ENV})")
    auth.add_argument(
        "--client-secret",
        default=None,
        help=f"--genesys: the base64 client secret that signs the request (default: ${CLIENT_SECRET_ENV}, "
        f"else the key's in ${SERVER_KEYS_ENV})",
    )
    auth.add_argument(
        "--jwt", metavar="TOKEN", default=None, help=f"a JWT, sent as Authorization: Bearer (default: ${JWT_ENV})"
    )
    tls = parser.add_argument_group("TLS (wss://, https://)")
    tls.add_argument("--cafile", default=None, help="PEM file of the CA certificates to trust (a test CA)")
    tls.add_argument("--insecure", action="store_true", help="do not verify the server's certificate (tests only)")
    genesys = parser.add_argument_group("--genesys")
    genesys.add_argument(
        "--channels",
        type=_channels,
        default=None,
        help="the Genesys channel of each of the file's channels (default: external,internal for stereo, i.e. "
        "customer left and agent right; external for mono)",
    )
    genesys.add_argument("--format", choices=("PCMU", "L16"), default="PCMU", help="audio format offered")
    genesys.add_argument(
        "--pause-at",
        type=_pause,
        action="append",
        default=[],
        metavar="SECONDS[+DURATION]",
        help="a secure pause at this stream position, DURATION seconds long (default 5); repeatable",
    )
    genesys.add_argument("--organization-id", default=None, help="Audiohook-Organization-Id (default: random)")
    genesys.add_argument("--conversation-id", default=None, help="open.parameters.conversationId (default: random)")
    genesys.add_argument(
        "--authority",
        default=None,
        help="the Host to sign and send, when a proxy in front of the server rewrites it (default: the URL's)",
    )
    parser.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        help="1 = real time (the default), 4 = four times faster; 0 or inf = as fast as possible",
    )
    parser.add_argument(
        "--frame-ms", type=_frame_ms, default=None, help="audio per binary frame (default: 500 ms; 200 with --genesys)"
    )
    parser.add_argument(
        "--session-id", default=None, help="session id (default: a random UUID; --genesys: must be a UUID)"
    )
    parser.add_argument(
        "--language",
        default=None,
        help="language asked for (en, de; en-US, de-DE with --genesys); unset: none is sent and the server detects it",
    )
    parser.add_argument("--goal", default=None, help="--live-http: the call's goal, given to the analysis")
    parser.add_argument("--json", action="store_true", help="print every server message as one JSON line on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument(
        "--close-timeout",
        type=_positive_float,
        default=120.0,
        help="seconds to wait for the end of the session after the audio (default 120)",
    )
    return parser


def _first_server_key(signed: bool) -> tuple[str | None, str | None]:
    """A key of $AUDIOHOOK_API_KEYS and its secret (base64), for a shell that runs the server too.

    Genesys (`signed`) takes the first key that has a secret; the other doors the first that has none
    (the server refuses a key with a secret unsigned). Either falls back to the first key.
    """
    try:
        keys = parse_api_keys(os.environ.get(SERVER_KEYS_ENV, ""))
    except ConfigurationError as exc:
        raise UsageError(f"${SERVER_KEYS_ENV}: {exc}") from None
    if not keys:
        return None, None
    key = next((key for key in keys if (key.secret is not None) == signed), keys[0])
    return key.key, _b64(key.secret) if key.secret else None


def _secret_of(api_key: str) -> str | None:
    """The secret $AUDIOHOOK_API_KEYS gives `api_key`, if any."""
    try:
        keys = parse_api_keys(os.environ.get(SERVER_KEYS_ENV, ""))
    except ConfigurationError:
        return None
    return next((_b64(key.secret) for key in keys if key.key == api_key and key.secret), None)


def _b64(secret: bytes) -> str:
    return base64.b64encode(secret).decode("ascii")


def credentials(args: argparse.Namespace) -> tuple[str | None, str | None, str | None]:
    """(api key, client secret, jwt) from the flags, else the environment."""
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    secret = args.client_secret or os.environ.get(CLIENT_SECRET_ENV) or None
    if api_key is None:
        api_key, env_secret = _first_server_key(signed=bool(getattr(args, "genesys", False)))
        secret = secret or env_secret
    elif secret is None:
        secret = _secret_of(api_key)
    return api_key, secret, args.jwt or os.environ.get(JWT_ENV) or None


def _ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if args.cafile is None and not args.insecure:
        return None
    try:
        return client_ssl_context(args.cafile, insecure=args.insecure)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _is_jwt_door(url: str) -> bool:
    return urlsplit(url).path.rstrip("/").endswith("/ws/transcribe")


def _call(args: argparse.Namespace, audio: DecodedAudio, console: Console) -> Coroutine[Any, Any, CallOutcome]:
    """The session of the door the flags name, ready to run."""
    api_key, secret, jwt_token = credentials(args)
    context = _ssl_context(args)
    if args.live_http:
        http_base_url(args.url)  # checks it
        if not api_key and not jwt_token:
            raise UsageError(f"--live-http needs --api-key (or ${API_KEY_ENV}) or --jwt")
        options = HttpCallOptions(
            api_key=api_key,
            bearer_token=jwt_token,
            speed=args.speed,
            goal=args.goal,
            language=args.language,
            close_timeout=args.close_timeout,
            ssl_context=context,
        )
        return run_http_call(args.url, Path(args.audio), audio.duration_s, options, console)
    if args.genesys:
        return _genesys_call(args, audio, console, api_key, secret, context)
    if _is_jwt_door(args.url):
        if not jwt_token:
            raise UsageError(f"{args.url} is the JWT door: give --jwt TOKEN (or ${JWT_ENV})")
        jwt_options = JwtCallOptions(
            token=jwt_token,
            speed=args.speed,
            frame_ms=args.frame_ms or 500,
            close_timeout=args.close_timeout,
            ssl_context=context,
        )
        return run_jwt_call(args.url, audio.mono_16k(), jwt_options, console)
    return _simple_call(args, audio, console, api_key, jwt_token, context)


def _genesys_call(
    args: argparse.Namespace,
    audio: DecodedAudio,
    console: Console,
    api_key: str | None,
    secret: str | None,
    context: ssl.SSLContext | None,
) -> Coroutine[Any, Any, CallOutcome]:
    if not api_key:
        raise UsageError(f"--genesys needs --api-key (or ${API_KEY_ENV}): Genesys always sends X-API-KEY")
    if args.jwt:
        raise UsageError("--genesys authenticates with --api-key and --client-secret, not --jwt")
    if secret is not None:
        try:
            base64.b64decode(secret, validate=True)
        except (binascii.Error, ValueError):
            raise UsageError(
                "--client-secret must be the base64 secret Genesys shows (it is not valid base64)"
            ) from None
    for flag, value in (("--session-id", args.session_id), ("--organization-id", args.organization_id)):
        if value is not None:
            try:
                uuid.UUID(value)
            except ValueError:
                raise UsageError(f"{flag} {value!r} is not a UUID: Genesys sends 8-4-4-4-12 hex digits") from None
    channels = args.channels or (("external", "internal") if audio.channels >= 2 else ("external",))
    if len(channels) > audio.channels:
        raise UsageError(
            f"--channels {','.join(channels)} needs {len(channels)} channels; the file has {audio.channels}"
        )
    options = GenesysCallOptions(
        api_key=api_key,
        client_secret=secret,
        channels=channels,
        audio_format=args.format,
        language=args.language,
        organization_id=args.organization_id,
        session_id=args.session_id,
        conversation_id=args.conversation_id,
        authority=args.authority,
        speed=args.speed,
        frame_ms=args.frame_ms or 200,
        pauses=tuple(args.pause_at),
        close_timeout=args.close_timeout,
        ssl_context=context,
    )
    return run_genesys_call(args.url, audio.genesys_8k(tuple(range(len(channels)))), options, console)


async def _simple_call(
    args: argparse.Namespace,
    audio: DecodedAudio,
    console: Console,
    api_key: str | None,
    jwt_token: str | None,
    context: ssl.SSLContext | None,
) -> CallOutcome:
    result = await stream_audio(
        args.url,
        audio.mono_16k(),
        api_key=api_key,
        bearer_token=jwt_token,
        ssl_context=context,
        speed=args.speed,
        frame_ms=args.frame_ms or 500,
        session_id=args.session_id,
        language=args.language,
        on_message=console.on_message,
        on_progress=console.on_progress,
        close_timeout=args.close_timeout,
    )
    return result.outcome()


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: 0 on a normal close, 1 on a server error or abnormal close, 2 on usage/connection errors."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.session_id is not None and not args.session_id:
        parser.error("--session-id must not be empty")
    if not args.genesys and (args.pause_at or args.channels or args.authority):
        parser.error("--pause-at, --channels and --authority are for --genesys")
    try:
        audio = read_audio(args.audio)
    except ValueError as exc:
        print(f"audiohook-client: cannot read {args.audio}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    console = Console(total_s=audio.duration_s, json_lines=args.json, quiet=args.quiet, out=sys.stdout, err=sys.stderr)
    try:
        outcome = asyncio.run(_call(args, audio, console))
    except (ClientError, UsageError, ValueError) as exc:
        console.close()
        print(f"audiohook-client: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        console.close()
        print("audiohook-client: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    console.close()
    console.summary(outcome)
    return EXIT_OK if outcome.ok else EXIT_SESSION_FAILED
