"""The HTML of the supervisor pages and of the QA report file.

The pages are small shells: the browser code in `static/` (plain scripts, no build step, nothing from a
CDN) fetches the data and draws it. The call view and the report are the same page: the report inlines
the stylesheets and scripts (uPlot, `common.js`, `call.js`) and embeds the call's JSON, so it opens
offline from a mail attachment or a file share, and its player plays `<stem>.wav` when it lies beside
it. Charts are uPlot (MIT, 51 kB minified, canvas): interactive in the page and in the report, small
enough to inline into every report (a Plotly report would be 3.5 MB; static matplotlib images would
lose the hover and the click to an utterance). Every value put into markup is escaped here
(`html.escape`, and the embedded JSON with `<`, `>` and `&` as `\\u` escapes), and the scripts only ever
set `textContent`, so no transcript can become markup.
"""

from __future__ import annotations

import html
import json
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import quote

__all__ = ["call_page", "floor_page", "login_page", "report_html", "static_file"]

STATIC_FILES = frozenset({"ui.css", "common.js", "floor.js", "call.js", "vendor/uPlot.iife.min.js",
                          "vendor/uPlot.min.css"})  # fmt: skip


@cache
def static_file(name: str) -> bytes:
    """A file of `static/` (only the names in STATIC_FILES)."""
    if name not in STATIC_FILES:
        raise KeyError(name)
    return resources.files("audiohook_server.ui").joinpath("static", name).read_bytes()


def _head(title: str, styles: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n<link rel="icon" href="data:,">\n'
        f"<title>{html.escape(title)}</title>\n{styles}</head>\n"
    )


def _links(*names: str) -> str:
    return "".join(f'<link rel="stylesheet" href="/ui/static/{name}">\n' for name in names)


def _scripts(*names: str) -> str:
    return "".join(f'<script defer src="/ui/static/{name}"></script>\n' for name in names)


def _nav(csrf: str) -> str:
    return (
        '<nav class="topbar" aria-label="main">\n<a href="/ui/">Floor</a>\n'
        '<form method="post" action="/ui/logout" class="logout">\n'
        f'<input type="hidden" name="csrf" value="{html.escape(csrf)}">\n'
        '<button type="submit">Log out</button>\n</form>\n</nav>\n'
    )


def floor_page(csrf: str) -> str:
    return (
        _head("Floor · audiohook-server", _links("ui.css"))
        + "<body>\n"
        + _nav(csrf)
        + '<main id="floor" data-events-url="/ui/events" data-call-url-prefix="/ui/calls/"></main>\n'
        + _scripts("common.js", "floor.js")
        + "</body>\n</html>\n"
    )


def call_page(key: str, csrf: str) -> str:
    base = f"/ui/calls/{quote(key, safe='')}"
    data = html.escape(f"{base}/data")
    return (
        _head(f"Call {key} · audiohook-server", _links("vendor/uPlot.min.css", "ui.css"))
        + "<body>\n"
        + _nav(csrf)
        + f'<main id="call" data-data-url="{data}" data-events-url="{html.escape(base)}/events" '
        f'data-recording-url="{html.escape(base)}/recording"></main>\n'
        + _scripts("vendor/uPlot.iife.min.js", "common.js", "call.js")
        + "</body>\n</html>\n"
    )


def login_page(error: str = "", next_path: str = "/ui/") -> str:
    message = f'<p class="error" role="alert">{html.escape(error)}</p>\n' if error else ""
    return (
        _head("Log in · audiohook-server", _links("ui.css"))
        + '<body>\n<main class="login">\n<h1>audiohook-server</h1>\n'
        + message
        + '<form method="post" action="/ui/login">\n'
        + f'<input type="hidden" name="next" value="{html.escape(next_path)}">\n'
        + '<label for="credential">API key or JWT</label>\n'
        + '<input id="credential" name="credential" type="password" autocomplete="current-password" '
        "required autofocus>\n" + '<button type="submit">Log in</button>\n</form>\n</main>\n</body>\n</html>\n'
    )


def _inline_script(name: str) -> str:
    code = static_file(name).decode("utf-8").replace("</script", "<\\/script")
    return f"<script>\n{code}\n</script>\n"


def _embedded_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def report_html(call: dict[str, Any], recording_name: str | None) -> str:
    """The self-contained QA report of a finished call (`recording_name`: the WAV beside it, or None)."""
    styles = "".join(
        f"<style>\n{static_file(name).decode('utf-8')}\n</style>\n" for name in ("vendor/uPlot.min.css", "ui.css")
    )
    title = call.get("conversation_id") or call.get("session_id") or "call"
    recording = f' data-recording-url="{html.escape(quote(recording_name))}"' if recording_name else ""
    return (
        _head(f"QA report: {title}", styles)
        + '<body class="report">\n'
        + f'<main id="call"{recording}></main>\n'
        + f'<script type="application/json" id="call-data">{_embedded_json(call)}</script>\n'
        + _inline_script("vendor/uPlot.iife.min.js")
        + _inline_script("common.js")
        + _inline_script("call.js")
        + "</body>\n</html>\n"
    )
