"""The `audiohook-client` command: its arguments, one streamed WAV, and the exit code a script can act on.

Everything here is about the command line (flags, their checks, `$AUDIOHOOK_API_KEY`, reading the
WAV, what a failure prints and which exit code it gets); the session itself is `stream_audio` and the
output is `Console`, so a script that wants the session without the command calls those instead.

    audiohook-client ws://127.0.0.1:8080/audiohook call.wav --api-key KEY --speed 4
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
from collections.abc import Sequence

from audiohook_server.audio.resampling import to_mono_16k
from audiohook_server.audio.wav_files import read_wav
from audiohook_server.client.console import Console
from audiohook_server.client.dialect import SAMPLE_RATE
from audiohook_server.client.session import ClientError, stream_audio

API_KEY_ENV = "AUDIOHOOK_API_KEY"

EXIT_OK = 0
EXIT_SESSION_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audiohook-client",
        description="Stream a WAV file to an AudioHook server (simple PCM dialect) and show the live transcript.",
    )
    parser.add_argument("url", metavar="URL", help="WebSocket URL, e.g. ws://127.0.0.1:8080/audiohook")
    parser.add_argument("wav", metavar="WAV", help="audio file (any rate and channel count; sent as 16 kHz mono)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help=f"API key, sent as the x-api-key query parameter (default: ${API_KEY_ENV})",
    )
    parser.add_argument(
        "--speed", type=_speed, default=1.0, help="1 = real time, 4 = four times faster; 0 or inf = as fast as possible"
    )
    parser.add_argument("--frame-ms", type=_frame_ms, default=500, help="audio per binary frame (default 500 ms)")
    parser.add_argument("--session-id", default=None, help="session id (default: a random UUID)")
    parser.add_argument("--language", default="en", help="language in the open message (default: en)")
    parser.add_argument("--json", action="store_true", help="print every server message as one JSON line on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--close-timeout",
        type=_positive_float,
        default=120.0,
        help="seconds to wait for the server's 'closed' after sending 'close' (default 120)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: 0 on a normal close, 1 on a server error or abnormal close, 2 on usage/connection errors."""
    args = build_parser().parse_args(argv)
    if args.session_id is not None and not args.session_id:
        print("audiohook-client: --session-id must not be empty", file=sys.stderr)
        return EXIT_USAGE
    try:
        raw, rate = read_wav(args.wav)
        samples = to_mono_16k(raw, rate)
    except (OSError, ValueError) as exc:
        print(f"audiohook-client: cannot read {args.wav}: {exc}", file=sys.stderr)
        return EXIT_USAGE

    console = Console(
        total_s=samples.shape[0] / SAMPLE_RATE, json_lines=args.json, quiet=args.quiet, out=sys.stdout, err=sys.stderr
    )
    try:
        result = asyncio.run(
            stream_audio(
                args.url,
                samples,
                api_key=args.api_key,
                speed=args.speed,
                frame_ms=args.frame_ms,
                session_id=args.session_id,
                language=args.language,
                on_message=console.on_message,
                on_progress=console.on_progress,
                close_timeout=args.close_timeout,
            )
        )
    except (ClientError, ValueError) as exc:
        console.close()
        print(f"audiohook-client: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        console.close()
        print("audiohook-client: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    console.close()
    console.summary(result)
    return EXIT_OK if result.ok else EXIT_SESSION_FAILED
