"""Worker threads lower their own priority, and the threads they start inherit it; the caller's
(the event loop's) stays as it was. Real threads and the real scheduler settings (Linux)."""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from audiohook_server.thread_priority import MAX_NICENESS, lower_current_thread

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_pool_threads_and_their_children_run_nicer_than_the_caller() -> None:
    before = _niceness()
    with ThreadPoolExecutor(1, initializer=lower_current_thread, initargs=(5,)) as pool:
        worker = pool.submit(_niceness).result()

        def child_of_worker() -> int:
            seen: list[int] = []
            child = threading.Thread(target=lambda: seen.append(_niceness()))
            child.start()
            child.join()
            return seen[0]

        child = pool.submit(child_of_worker).result()
    assert worker == min(MAX_NICENESS, before + 5)
    assert child == worker, "a thread a model library starts from a worker inherits its niceness"
    assert _niceness() == before


def test_zero_changes_nothing() -> None:
    with ThreadPoolExecutor(1, initializer=lower_current_thread, initargs=(0,)) as pool:
        assert pool.submit(_niceness).result() == _niceness()
