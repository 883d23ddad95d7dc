"""The routes under `/ui/`: the supervisor's pages, their event streams, a finished call's recording.

    GET  /ui/login                      the login form
    POST /ui/login                      form credential (API key or JWT), next -> session cookie, 303
    POST /ui/logout                     form csrf -> the session revoked, the cookie cleared, 303
    GET  /ui/                           the floor: every live call, then the recently ended
    GET  /ui/events                     text/event-stream of the floor (snapshot, call, ended)
    GET  /ui/calls/{call}               one call's view (live, or finished from its files)
    GET  /ui/calls/{call}/data          the call JSON (docs/ui.md)
    GET  /ui/calls/{call}/events        text/event-stream of the call (snapshot, partial, final, ...)
    GET  /ui/calls/{call}/recording     the finished call's WAV (Range requests: the player seeks)
    GET  /ui/calls/{call}/report        the finished call's QA report file
    GET  /ui/static/{file}              the pages' scripts and styles

`{call}` is a live call's session id, or a finished call's file stem or session id (`ui.call_files`).
Everything but the login form and the static files (the package's scripts and styles) needs a session
(`ui.access`): without one, a page request gets 401
with the login form as its body, any other request a plain 401; a POST from another site's page, or
a logout without the session's CSRF token, gets 403. Every answer says `Cache-Control: no-store` and
carries a Content-Security-Policy that allows this server's own scripts, styles and streams only.
Nothing a caller said goes into a URL or a log line: the URLs hold ids only, and the access log is off.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from sse_starlette.sse import EventSourceResponse

from audiohook_server.ui.access import COOKIE_NAME, COOKIE_PATH, LoginRefused, UiAccess, UiSession
from audiohook_server.ui.call_files import find_call_csv, read_call
from audiohook_server.ui.floor import Floor, Subscription
from audiohook_server.ui.pages import call_page, floor_page, login_page, static_file
from audiohook_server.ui.report import report_path

if TYPE_CHECKING:
    from audiohook_server.server.app import AudioHookServer

__all__ = ["UI_PREFIX", "ui_router"]

log = logging.getLogger(__name__)

UI_PREFIX = "/ui"
HEARTBEAT_S = 15.0
MAX_FORM_BYTES = 16 * 1024
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "media-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}
_CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


def _secured(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _safe_next(value: str) -> str:
    """Where a login may send the browser: a path under /ui/ of this server, nothing else."""
    if value.startswith("/ui/") and not value.startswith("//") and "\\" not in value and "//" not in unquote(value):
        return value
    return "/ui/"


def ui_router(server: AudioHookServer, floor: Floor, access: UiAccess) -> APIRouter:
    router = APIRouter(prefix=UI_PREFIX, include_in_schema=False)
    directory: Path = server.settings.recordings_dir

    def denied(request: Request) -> Response:
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            page = login_page("Log in to see this page.", _safe_next(request.url.path))
            return _secured(HTMLResponse(page, status_code=401))
        return _secured(PlainTextResponse("log in first: POST /ui/login\n", status_code=401))

    Handler = Callable[[Request, UiSession], Awaitable[Response]]

    def logged_in(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def route(request: Request) -> Response:
            session = access.session_of(request)
            if session is None:
                return denied(request)
            return _secured(await handler(request, session))

        return route

    async def form(request: Request) -> dict[str, str]:
        body = b""
        async for piece in request.stream():
            body += piece
            if len(body) > MAX_FORM_BYTES:
                raise ValueError("form too large")
        return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}

    # ---- login and logout ----------------------------------------------------------------------

    async def get_login(request: Request) -> Response:
        if access.session_of(request) is not None:
            return _secured(RedirectResponse("/ui/", status_code=303))
        return _secured(HTMLResponse(login_page(next_path=_safe_next(request.query_params.get("next", "/ui/")))))

    async def post_login(request: Request) -> Response:
        if not access.same_origin(request):
            return _secured(PlainTextResponse("cross-site login refused\n", status_code=403))
        address = request.client.host if request.client else "unknown"
        if server.auth_saturated(address):
            return _secured(PlainTextResponse("too many failing logins from this address\n", status_code=429))
        try:
            fields = await form(request)
        except ValueError:
            return _secured(PlainTextResponse("the login form is too large\n", status_code=413))
        next_path = _safe_next(fields.get("next", "/ui/"))
        try:
            session = access.login(fields.get("credential", ""))
        except LoginRefused as refused:
            await server.refuse_login(address, str(refused))
            return _secured(HTMLResponse(login_page(str(refused), next_path), status_code=401))
        log.info("supervisor pages: %s logged in", session.principal)
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(
            COOKIE_NAME,
            access.cookie_value(session),
            max_age=int(access.max_age_s),
            path=COOKIE_PATH,
            secure=access.secure_cookie(request),
            httponly=True,
            samesite="strict",
        )
        return _secured(response)

    async def post_logout(request: Request) -> Response:
        session = access.session_of(request)
        if session is None:
            return denied(request)
        if not access.same_origin(request):
            return _secured(PlainTextResponse("cross-site logout refused\n", status_code=403))
        try:
            fields = await form(request)
        except ValueError:
            return _secured(PlainTextResponse("the form is too large\n", status_code=413))
        if not access.csrf_matches(session, fields.get("csrf", "")):
            return _secured(PlainTextResponse("the logout form's token does not match this session\n", status_code=403))
        access.logout(session)
        log.info("supervisor pages: %s logged out", session.principal)
        response = RedirectResponse("/ui/login", status_code=303)
        response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, httponly=True, samesite="strict")
        return _secured(response)

    router.add_api_route("/login", get_login, methods=["GET"])
    router.add_api_route("/login", post_login, methods=["POST"])
    router.add_api_route("/logout", post_logout, methods=["POST"])

    # ---- the floor -----------------------------------------------------------------------------

    async def root(request: Request) -> Response:
        return RedirectResponse("/ui/", status_code=307)

    async def floor_view(request: Request, session: UiSession) -> Response:
        return HTMLResponse(floor_page(session.csrf))

    async def floor_events(request: Request, session: UiSession) -> Response:
        return _stream(floor.watch(), floor)

    router.add_api_route("", root, methods=["GET"])
    router.add_api_route("/", logged_in(floor_view), methods=["GET"])
    router.add_api_route("/events", logged_in(floor_events), methods=["GET"])

    # ---- one call ------------------------------------------------------------------------------

    def finished_csv(key: str) -> Path | None:
        recent = floor.recent_call(key)
        if recent is not None and recent.csv_path is not None and recent.csv_path.is_file():
            return recent.csv_path
        return find_call_csv(directory, key)

    async def finished(key: str) -> dict[str, Any] | None:
        csv_path = await asyncio.to_thread(finished_csv, key)
        if csv_path is None:
            return None
        try:
            return (await asyncio.to_thread(read_call, csv_path)).to_json()
        except (OSError, ValueError):
            log.warning("cannot read the files of a finished call (%s)", csv_path.name)
            return None

    def not_found() -> Response:
        return PlainTextResponse("no such call (live or finished) on this server\n", status_code=404)

    async def call_view(request: Request, session: UiSession) -> Response:
        key = request.path_params["call"]
        if floor.live_call(key) is None and await asyncio.to_thread(finished_csv, key) is None:
            return not_found()
        return HTMLResponse(call_page(key, session.csrf))

    async def call_data(request: Request, session: UiSession) -> Response:
        key = request.path_params["call"]
        live = floor.live_call(key)
        call = live.snapshot() if live is not None else await finished(key)
        return JSONResponse(call) if call is not None else not_found()

    async def call_events(request: Request, session: UiSession) -> Response:
        key = request.path_params["call"]
        live = floor.live_call(key)
        if live is not None:
            return _stream(live.watch(), floor)
        call = await finished(key)
        if call is None:
            return not_found()
        done = Subscription([("snapshot", call)])
        done.close()
        return _stream(done, floor)

    async def call_file(request: Request, session: UiSession, suffix: str, media_type: str) -> Response:
        key = request.path_params["call"]
        if floor.live_call(key) is not None:
            return PlainTextResponse("the call is still live: its files are complete when it ends\n", status_code=409)
        csv_path = await asyncio.to_thread(finished_csv, key)
        if csv_path is None:
            return not_found()
        path = report_path(csv_path) if suffix == "report" else csv_path.with_suffix(suffix)
        if not path.is_file():
            return PlainTextResponse(f"this call has no {'report' if suffix == 'report' else 'recording'}\n", 404)
        return FileResponse(path, media_type=media_type)

    async def recording(request: Request, session: UiSession) -> Response:
        return await call_file(request, session, ".wav", "audio/wav")

    async def report(request: Request, session: UiSession) -> Response:
        response = await call_file(request, session, "report", "text/html; charset=utf-8")
        # The report inlines its scripts: it is a file to open, not a page of this origin.
        response.headers["Content-Security-Policy"] = "sandbox allow-scripts; default-src 'none'; " \
            "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"  # fmt: skip
        return response

    router.add_api_route("/calls/{call}", logged_in(call_view), methods=["GET"])
    router.add_api_route("/calls/{call}/data", logged_in(call_data), methods=["GET"])
    router.add_api_route("/calls/{call}/events", logged_in(call_events), methods=["GET"])
    router.add_api_route("/calls/{call}/recording", logged_in(recording), methods=["GET"])
    router.add_api_route("/calls/{call}/report", logged_in(report), methods=["GET"])

    # ---- scripts and styles --------------------------------------------------------------------

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            body = static_file(name)
        except KeyError:
            return PlainTextResponse("no such file\n", status_code=404)
        return _secured(Response(body, media_type=_CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream")))

    # Public: the package's own scripts and styles (the login form uses the stylesheet); no call data.
    router.add_api_route("/static/{name:path}", static, methods=["GET"])
    return router


def _stream(subscription: Subscription, floor: Floor) -> EventSourceResponse:
    async def frames() -> AsyncIterator[dict[str, str]]:
        try:
            while True:
                event = await subscription.next()
                if event is None:
                    return
                name, data = event
                yield {"event": name, "data": json.dumps(data, ensure_ascii=False)}
        finally:
            floor.unwatch(subscription)

    return EventSourceResponse(frames(), ping=HEARTBEAT_S, headers={"X-Accel-Buffering": "no"})
