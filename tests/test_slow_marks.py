"""The `slow` mark names real modules (a renamed module would silently fall into the fast run)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import SLOW_MODULES

ROOT = Path(__file__).resolve().parent.parent


def test_every_slow_module_exists() -> None:
    assert sorted(m for m in SLOW_MODULES if not (ROOT / m).is_file()) == []
