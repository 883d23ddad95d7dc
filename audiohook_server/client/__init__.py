"""The AudioHook client: `audiohook-client` and the library that tests and benchmarks stream calls with.

It plays the part of a SIP trunk or softphone bridge: the API key goes in the query string, audio is
PCM16 16 kHz mono in 500 ms binary frames, paced in real time (or faster with `--speed`), and the
server's `event` messages (transcripts and the call analysis) are shown as they arrive.

    audiohook-client ws://127.0.0.1:8080/audiohook call.wav --api-key KEY --speed 4

As a library, `stream_audio` / `stream_wav` run one session and return a `StreamResult` holding
every server message with the monotonic time it arrived and how much audio had been sent by then.

The modules, by what they are responsible for:

- `urls`: the API key in the query string, and the URL without it for messages;
- `dialect`: the simple dialect's audio format, `open`/`close`, and reading the server's parameters;
- `results`: `ReceivedEvent` and `StreamResult`, what a session produced;
- `options`: the keywords `stream_audio` and `stream_wav` take, their defaults and checks;
- `pacing`: when each frame may go out, as if the audio were spoken live;
- `session`: one session over the WebSocket (`stream_audio`, `stream_wav`, `ClientError`);
- `console`: what the command shows (progress, partials, finals, analysis, summary);
- `cli`: the command's arguments and exit codes (`main`, `build_parser`).
"""

from audiohook_server.client.cli import API_KEY_ENV, build_parser, main
from audiohook_server.client.console import format_analysis, format_final
from audiohook_server.client.dialect import open_message
from audiohook_server.client.results import ReceivedEvent, StreamResult
from audiohook_server.client.session import ClientError, stream_audio, stream_wav
from audiohook_server.client.urls import url_with_api_key

__all__ = [
    "API_KEY_ENV",
    "ClientError",
    "ReceivedEvent",
    "StreamResult",
    "build_parser",
    "format_analysis",
    "format_final",
    "main",
    "open_message",
    "stream_audio",
    "stream_wav",
    "url_with_api_key",
]
