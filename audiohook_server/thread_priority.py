"""Model and file work yields the CPU to the event loop.

On a busy machine every core runs Whisper, the analysis models and the exports, and the event loop
(which answers Genesys pings, sends `opened`, reads frames) waits its turn behind them for the
scheduler's time slice. The worker threads run at a higher niceness instead, so the loop, when it has
something to do, runs first; the models still get every cycle the loop does not use. Measured with
benchmarks/bench_genesys.py on 2 cores (one run, niceness 0 against 10): pong p99 12.1 -> 6.6 ms and
opened p99 10.2 -> 6.3 ms at 16 calls, 9.9 -> 8.7 ms and 7.8 -> 5.1 ms at 24, final p95 within
0.1 s. A small gain while the machine keeps up; the point is the overload, where the loop must keep
answering while the models queue.

Linux keeps a niceness per thread, and a thread starts with its creator's: so the worker pools set
theirs as they start (`ThreadPoolExecutor(initializer=...)`), and the threads the model libraries
create from them (CTranslate2's workers, created when the model loads in a stream worker; torch's
OpenMP pool) inherit it. Raising one's own niceness needs no privilege. Elsewhere this is a no-op.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

MAX_NICENESS = 19


def lower_current_thread(niceness: int) -> None:
    """Add `niceness` (0-19) to the calling thread's niceness: on Linux only this thread, and the
    threads it creates from now on."""
    if niceness <= 0 or not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(MAX_NICENESS, current + niceness))
    except OSError as exc:  # a sandbox that forbids it: the work still runs, at the loop's priority
        log.debug("could not lower the priority of worker thread %d: %s", tid, exc)
