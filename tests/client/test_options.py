"""`audiohook_server.client.options`: the defaults of a session's options and the checks that refuse bad ones."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from audiohook_server.client.options import DEFAULT_OPEN_TIMEOUT_S, StreamOptions


def test_defaults() -> None:
    options = StreamOptions(api_key=None)
    assert (options.speed, options.frame_ms, options.session_id, options.language) == (1.0, 500, None, None)
    assert (options.on_message, options.on_progress) == (None, None)
    assert (options.close_timeout, options.open_timeout) == (120.0, DEFAULT_OPEN_TIMEOUT_S)
    assert options.frame_samples == 8000
    assert StreamOptions(api_key="k", frame_ms=120).frame_samples == 1920
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.speed = 2.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"speed": -1.0}, "speed must be 0"),
        ({"speed": math.nan}, "speed must be 0"),
        ({"frame_ms": 0}, "frame_ms must be positive"),
        ({"frame_ms": 200_000}, "makes frames larger than 4194304 bytes"),
        ({"open_timeout": 0.0}, "timeouts must be positive"),
        ({"close_timeout": math.nan}, "timeouts must be positive"),
        ({"session_id": ""}, "session_id must not be empty"),
    ],
)
def test_bad_options_are_refused(keywords: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StreamOptions(api_key=None, **keywords)


def test_speed_zero_and_inf_are_allowed() -> None:
    assert StreamOptions(api_key=None, speed=0.0).speed == 0.0
    assert StreamOptions(api_key=None, speed=math.inf).speed == math.inf
