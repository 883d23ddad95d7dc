"""Fixtures for the client's tests: `make_server` starts `FakeServer`s and stops them after the test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.client.fake_server import FakeServer


@pytest.fixture
def make_server() -> Iterator[Any]:
    servers: list[FakeServer] = []

    def factory(**behaviour: Any) -> FakeServer:
        server = FakeServer(**behaviour).start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()
