"""Server-Sent Events read off a streaming httpx response, for the tests of the HTTP live-capture door.

One parser for every test that reads an event stream (the live `/events` stream, the replay's response,
through nginx or not), written from the SSE format: `field: value` lines, a blank line ends an event,
lines starting with `:` are comments (our heartbeats).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Each event as {id (int, None without one), event, data (decoded JSON)}, in order."""
    current: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in current:
                event_id = int(current["id"]) if "id" in current else None
                yield {"id": event_id, "event": current.get("event", "message"), "data": json.loads(current["data"])}
            current = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            current[key] = value.strip()
