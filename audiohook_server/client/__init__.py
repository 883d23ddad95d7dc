"""The AudioHook client: `audiohook-client` and the library that tests and benchmarks stream calls with.

It plays the part of every kind of caller the server has a door for: a SIP trunk or softphone bridge
(the simple dialect: the API key in the query string, PCM16 16 kHz mono in 500 ms binary frames),
Genesys Cloud (`--genesys`: signed, stereo PCMU, pings), an agent desktop holding a JWT
(`/ws/transcribe`) and a browser or serverless function on the HTTP live-capture API (`--live-http`),
paced in real time (or faster with `--speed`), showing transcripts and the call analysis as they arrive.

    audiohook-client ws://127.0.0.1:8080/audiohook call.wav --api-key KEY --speed 4

As a library, `stream_audio` / `stream_wav` run one session and return a `StreamResult` holding
every server message with the monotonic time it arrived and how much audio had been sent by then.

The modules, by what they are responsible for:

- `urls`: the API key in the query string, and the URL without it for messages;
- `dialect`: the simple dialect's audio format, `open`/`close`, and reading the server's parameters;
- `results`: `ReceivedEvent` and `StreamResult`, what a session produced;
- `options`: the keywords `stream_audio` and `stream_wav` take, their defaults and checks;
- `pacing`: when each frame may go out, as if the audio were spoken live;
- `session`: one simple-dialect session over the WebSocket (`stream_audio`, `stream_wav`, `ClientError`);
- `genesys`: one AudioHook v2 session as Genesys runs it, checked against the protocol (`GenesysClient`);
- `genesys_call`, `jwt_call`, `http_call`: the `--genesys`, `/ws/transcribe` and `--live-http` calls;
- `audio_input`: any file FFmpeg decodes, in each door's format; `tls`: `--cafile`, `--insecure`, reasons;
- `console`: what the command shows (progress, partials, finals, analysis, summary);
- `cli`: the command's arguments, credentials and exit codes (`main`, `build_parser`).
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
