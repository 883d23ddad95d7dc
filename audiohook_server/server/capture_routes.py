"""The routes of the HTTP live-capture API (`/analyze/live/*`) and the replay endpoint (`/analyze/stream`).

The contract clients are written against (docs: README "Live capture over HTTP"):

    POST /analyze/live/start                  JSON {filename?, suffix?, ttl_seconds?, goal?} -> the session
    POST /analyze/live/{id}/chunk             multipart chunk_seq + chunk (or a raw body, ?chunk_seq=N)
    POST /analyze/live/{id}/control           JSON {action: finalize|cancel|keepalive, reason?}
    GET  /analyze/live/{id}/events            text/event-stream; Last-Event-ID resumes; one consumer
    GET  /analyze/live/{id}/artifacts/{name}  csv, summary, timeline, recording (once done)
    POST /analyze/stream                      multipart file -> the same event stream, as fast as possible

Every request carries an API key (`X-API-Key`, or `?api_key=`): the same keys as the WebSocket doors,
checked the same way (constant time, the brute-force brake). Refusals are JSON `{"detail": ...}` with
401, 404, 409, 413, 415, 422 or 503. Request bodies are bounded in size (413) and in time (a body that
does not arrive within `--idle-timeout-s` is a 408), so a slow or endless upload holds nothing long.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from sse_starlette.sse import EventSourceResponse
from starlette.datastructures import UploadFile
from starlette.types import Message

from protocol.capture import CaptureError, StartRequest, iso_utc, requested_language

if TYPE_CHECKING:
    from audiohook_server.server.app import AudioHookServer
    from audiohook_server.server.capture import Caller, CaptureRun

__all__ = ["capture_router"]

HEARTBEAT_S = 15.0
ROUTE_HEADER = "x-audiohook-route"
_MEDIA_TYPES = {
    "csv": "text/csv",
    "summary": "application/json",
    "timeline": "application/x-ndjson",
    "recording": "audio/wav",
}


def _refusal(error: CaptureError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status)


def _limited(request: Request, limit: int, timeout: float) -> Request:
    """The request, whose body may be at most `limit` bytes and must arrive within `timeout` seconds."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise CaptureError(413, f"the request body of {declared} bytes is over the {limit}-byte limit")
    received = 0
    deadline = asyncio.get_running_loop().time() + timeout
    upstream = request.receive

    async def receive() -> Message:
        nonlocal received
        left = deadline - asyncio.get_running_loop().time()
        try:
            message = await asyncio.wait_for(upstream(), max(0.001, left))
        except TimeoutError:
            raise CaptureError(408, f"the request body did not arrive within {timeout:.0f} s") from None
        received += len(message.get("body", b""))
        if received > limit:
            raise CaptureError(413, f"the request body is over the {limit}-byte limit")
        return message

    return Request(request.scope, receive)


def capture_router(server: AudioHookServer) -> APIRouter:
    router = APIRouter(prefix="/analyze", tags=["live capture"])
    settings = server.settings

    async def guard(request: Request) -> Caller:
        """Enabled, authenticated: who is calling; CaptureError otherwise."""
        if not settings.live_streaming:
            raise CaptureError(
                404, "live capture is disabled on this server: set ENABLE_LIVE_STREAMING=true (or --live-streaming)"
            )
        return await server.authenticate_http(request)

    @router.post("/live/start", summary="Start a live-capture session")
    async def start(request: Request) -> Response:
        try:
            caller = await guard(request)
            raw = await _limited(request, 64 << 10, settings.idle_timeout_s).body()
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                raise CaptureError(422, "the body must be JSON") from None
            route = request.headers.get(ROUTE_HEADER) if settings.trust_route_header else None
            if route is not None and not (len(route) == 32 and all(c in "0123456789abcdef" for c in route)):
                route = None
            run = await server.capture.create(StartRequest.parse(body), caller, route)
        except CaptureError as error:
            return _refusal(error)
        session = run.session
        base = f"/analyze/live/{session.session_id}"
        return JSONResponse(
            {
                "session_id": session.session_id,
                "conversation_id": session.conversation_id,
                "chunk_endpoint": f"{base}/chunk",
                "events_endpoint": f"{base}/events",
                "control_endpoint": f"{base}/control",
                "next_chunk_seq": session.next_chunk_seq,
                "expires_at": iso_utc(session.expires_at),
                "status": session.state.value,
            }
        )

    @router.post("/live/{session_id}/chunk", summary="Upload the next chunk of audio")
    async def chunk(session_id: str, request: Request) -> Response:
        try:
            run = server.capture.get(session_id, await guard(request))
            limited = _limited(request, settings.max_chunk_bytes + (64 << 10), settings.idle_timeout_s)
            if request.headers.get("content-type", "").startswith("multipart/form-data"):
                form = await limited.form(max_files=1, max_fields=8, max_part_size=64 << 10)
                seq, part = form.get("chunk_seq"), form.get("chunk")
                if not isinstance(part, UploadFile):
                    raise CaptureError(422, "the form has no 'chunk' file part")
                data = await part.read()
            else:
                seq, data = request.query_params.get("chunk_seq"), await limited.body()
            ack = await run.add_chunk(seq, data)
        except CaptureError as error:
            return _refusal(error)
        return JSONResponse({"received_bytes": ack.received_bytes, "next_chunk_seq": ack.next_chunk_seq})

    @router.post("/live/{session_id}/control", summary="finalize, cancel or keepalive")
    async def control(session_id: str, request: Request) -> Response:
        try:
            run = server.capture.get(session_id, await guard(request))
            raw = await _limited(request, 16 << 10, settings.idle_timeout_s).body()
            try:
                body = json.loads(raw)
            except ValueError:
                raise CaptureError(
                    422, 'the body must be JSON: {"action": "finalize" | "cancel" | "keepalive"}'
                ) from None
            if not isinstance(body, dict):
                raise CaptureError(422, 'the body must be a JSON object: {"action": ...}')
            reason = body.get("reason")
            answer = await run.control(body.get("action"), reason if isinstance(reason, str) else None)
        except CaptureError as error:
            return _refusal(error)
        return JSONResponse(answer)

    @router.get("/live/{session_id}/events", summary="The session's Server-Sent Events")
    async def events(session_id: str, request: Request) -> Response:
        try:
            run = server.capture.get(session_id, await guard(request))
            header = request.headers.get("last-event-id") or request.query_params.get("last_event_id") or "0"
            last_id = int(header) if header.strip().isdigit() else 0
            run.session.attach_check()
        except CaptureError as error:
            return _refusal(error)
        return _event_stream(run, last_id)

    @router.get("/live/{session_id}/artifacts/{name}", summary="A finished session's CSV, summary, timeline, recording")
    async def artifact(session_id: str, name: str, request: Request) -> Response:
        try:
            path = server.capture.artifact(session_id, name, await guard(request))
        except CaptureError as error:
            return _refusal(error)
        return FileResponse(path, media_type=_MEDIA_TYPES[name], filename=path.name)

    @router.post("/stream", summary="Replay a recorded file: the same events, as fast as the server can")
    async def replay(request: Request) -> Response:
        try:
            caller = await guard(request)
            limited = _limited(request, settings.max_upload_bytes, max(settings.idle_timeout_s, 300.0))
            form = await limited.form(max_files=1, max_fields=8, max_part_size=64 << 10)
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise CaptureError(422, "the form has no 'file' part (multipart/form-data, field 'file')")
            filename = upload.filename or "upload"
            suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ".bin"
            language = requested_language(form.get("language"))
            run = await server.capture.create_replay(suffix[:11], filename[:255], caller, language)
            await asyncio.get_running_loop().run_in_executor(None, _save, upload, run)
            await run.start_replay()
            run.session.attach_check()
        except CaptureError as error:
            return _refusal(error)
        return _event_stream(run, 0)

    return router


def _save(upload: UploadFile, run: CaptureRun) -> None:
    upload.file.seek(0)
    with run.upload.open("wb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)


def _event_stream(run: CaptureRun, last_id: int) -> EventSourceResponse:
    async def frames() -> AsyncIterator[dict[str, str]]:
        async for event in run.stream(last_id):
            yield {"id": str(event.id), "event": event.name, "data": json.dumps(event.data, ensure_ascii=False)}

    return EventSourceResponse(frames(), ping=HEARTBEAT_S, headers={"X-Accel-Buffering": "no"})
