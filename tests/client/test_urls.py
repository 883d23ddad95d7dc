"""`audiohook_server.client.urls`: the API key in the query string, on its own and through a session."""

from __future__ import annotations

import asyncio
from typing import Any

from audiohook_server.client import stream_audio, url_with_api_key
from tests.client.fake_server import API_KEY, audio


def test_url_with_api_key() -> None:
    assert url_with_api_key("ws://h/p", None) == "ws://h/p"
    assert url_with_api_key("ws://h/p", "k y&") == "ws://h/p?x-api-key=k%20y%26"
    assert url_with_api_key("ws://h/p?a=1&x-api-key=old&b=%2F", "new") == "ws://h/p?a=1&b=%2F&x-api-key=new"


def test_api_key_goes_in_the_query_string(make_server: Any) -> None:
    server = make_server()
    result = asyncio.run(stream_audio(server.url + "?tenant=a%20b&x-api-key=old", audio(0.2), api_key=API_KEY, speed=0))
    assert result.ok
    assert server.log.query == {"tenant": ["a b"], "x-api-key": [API_KEY]}
