"""The one ASGI application every door shares: WebSocket doors and HTTP routes on one port.

FastAPI (on Starlette) routes the requests: it gives the HTTP API its OpenAPI page and request
validation, and its WebSocket support is thin over uvicorn's (which speaks the `websockets`
library's sans-I/O protocol). Every WebSocket upgrade is authenticated and admitted *before* it is
accepted; a refusal is a real HTTP answer (401, 429, 503, 404) through the ASGI WebSocket denial
response extension, exactly as the `websockets` server answered before the move.

Routes: `/healthz`, `/readyz`, `/metrics` (plain HTTP), `/audiohook` and `/` (the AudioHook door:
Genesys and the simple dialect), `/ws/transcribe` (the JWT door), `/analyze/live/*` and
`/analyze/stream` (the HTTP live-capture door, `capture_routes`), `/ui/` (the supervisor pages and their
event streams, `ui.routes`), `/docs` (the OpenAPI page). Any other
path is a 404 naming the endpoints, for HTTP and WebSocket alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from audiohook_server.server.capture_routes import capture_router
from audiohook_server.server.routes import AUDIOHOOK_PATHS, LIVE_PATH, Door, HttpAnswer, route
from audiohook_server.ui.routes import ui_router

if TYPE_CHECKING:
    from audiohook_server.server.app import AudioHookServer

__all__ = ["build_app"]


def _plain(answer: HttpAnswer) -> Response:
    return PlainTextResponse(answer.body, status_code=answer.status, media_type=answer.content_type)


def build_app(server: AudioHookServer) -> FastAPI:
    app = FastAPI(
        title="audiohook-server",
        summary="AudioHook-compatible live call transcription and analytics",
        docs_url="/docs",
        redoc_url=None,
    )

    async def http_answer(request: Request) -> Response:
        target = route(request.url.path, server.state())
        assert isinstance(target, HttpAnswer)
        return _plain(target)

    for path in ("/healthz", "/readyz", "/metrics"):
        app.add_api_route(path, http_answer, methods=["GET", "HEAD"], include_in_schema=False)
    app.include_router(capture_router(server))
    if server.floor is not None and server.ui_access is not None:
        app.include_router(ui_router(server, server.floor, server.ui_access))

    async def door(websocket: WebSocket) -> None:
        target = route(websocket.url.path, server.state())
        if isinstance(target, HttpAnswer):
            await websocket.send_denial_response(_plain(target))
            return
        await server.serve_websocket(websocket, live=target is Door.LIVE)

    for path in (*sorted(AUDIOHOOK_PATHS), LIVE_PATH):
        app.add_api_websocket_route(path, door)

    async def unknown_websocket(websocket: WebSocket, path: str) -> None:
        target = route(websocket.url.path, server.state())
        assert isinstance(target, HttpAnswer)
        await websocket.send_denial_response(_plain(target))

    app.add_api_websocket_route("/{path:path}", unknown_websocket)

    @app.exception_handler(StarletteHTTPException)
    async def plain_http_errors(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (404, 405):
            answer = route(request.url.path, server.state())
            if isinstance(answer, HttpAnswer):
                return _plain(answer)
            return PlainTextResponse(
                f"{request.url.path} takes WebSocket connections (ws:// or wss://), not plain HTTP\n",
                status_code=426,
                headers={"Upgrade": "websocket", "Connection": "Upgrade"},
            )
        return PlainTextResponse(f"{exc.detail}\n", status_code=exc.status_code, headers=exc.headers)

    return app
