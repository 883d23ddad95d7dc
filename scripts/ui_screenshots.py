"""Screenshots of the supervisor pages (docs/ui.md), for reviews and the closing notes; not committed.

How to run (from the repository root; needs Debian's `chromium` and `chromium-driver`)::

    .venv/bin/python scripts/ui_screenshots.py [--out DIR]     # DIR defaults to /tmp/audiohook-ui-screenshots

It starts the real server in this process with the real models (as the tests do, tests/conftest.py),
streams two calls through it (the labelled analytics call on the Genesys door at 2.5x, its angry
customer raising alerts; the two-voice dialogue on the simple dialect), logs in through the form with
headless Chromium (tests/ui/browser.py) and saves, the viewport being exactly the size named:

* `floor.png`          the floor at 1280x800 while both calls are live, with transcript and an alert;
* `call-live.png`      the Genesys call's view while it runs, once it has a few utterances and an alert;
* `call-finished.png`  the same view after the call ended, with the recording's player;
* `report.png`         the QA report it left beside its CSV, opened from file:// with no server;
* `call-laptop.png`    the finished call's view opened afresh at 1366x768.

Then it prints each path and the machine. About two minutes on two cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import RunningServer, make_settings
from tests.ui.browser import headless_chromium
from tests.ui.test_browser import Calls, _log_in, count, texts, wait_for

DEFAULT_OUT = Path("/tmp/audiohook-ui-screenshots")
DESKTOP = (1280, 800)
LAPTOP = (1366, 768)
UTTERANCE = "#transcript .utterance:not(.partial)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/ui_screenshots.py", description="Screenshots of the supervisor pages over the real server."
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where the PNGs go (default {DEFAULT_OUT})")
    out: Path = parser.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="ui-screenshots-") as tmp:
        server = RunningServer(make_settings(Path(tmp))).start()
        try:
            base = f"http://127.0.0.1:{server.port}"
            with headless_chromium(*DESKTOP) as browser:
                _viewport(browser, *DESKTOP)
                _log_in(browser, base)
                calls = Calls(server)
                genesys_row = f"tr.call-row[data-session='{calls.genesys_id}']"
                try:
                    # The floor: both calls live, each with what was said last, and the Genesys call's alert.
                    for sid in (calls.genesys_id, calls.simple_id):
                        row_text = f"tr.call-row[data-session='{sid}'] td.c-text"
                        wait_for(f"{sid}'s transcript on the floor", partial(_any_text, browser, row_text))
                    wait_for(
                        "the Genesys call's alert on the floor",
                        partial(_any_text, browser, f"{genesys_row} td.c-alert"),
                    )
                    saved.append(_shot(browser, out / "floor.png"))

                    # The Genesys call live: a few utterances, the curve, an alert.
                    browser.get(f"{base}/ui/calls/{calls.genesys_id}")
                    wait_for("the sentiment chart", lambda: count(browser, "#sentiment-chart canvas"))
                    wait_for("an alert in the call", lambda: count(browser, "#alerts li.alert"))
                    wait_for("a few utterances", lambda: count(browser, UTTERANCE) >= 6)
                    if "live" not in " ".join(texts(browser, "#status")):
                        print("warning: the call ended before its live screenshot", file=sys.stderr)
                    saved.append(_shot(browser, out / "call-live.png"))
                finally:
                    calls.join()

                # The same page once the call ended: its files, with the recording to play.
                wait_for("the ended call's page", lambda: "ended" in " ".join(texts(browser, "#status")))
                wait_for("the recording", lambda: count(browser, "audio#recording"))
                wait_for("the player's duration", partial(_audio_ready, browser))
                saved.append(_shot(browser, out / "call-finished.png"))

                # Its QA report, from file:// with no server.
                report = server.recordings / f"{calls.genesys_id}.report.html"
                wait_for(report.name, report.is_file, timeout=30)
                browser.get(report.as_uri())
                wait_for("the report's transcript", lambda: count(browser, ".utterance") >= 5)
                wait_for("the report's chart", lambda: count(browser, "#sentiment-chart canvas"))
                saved.append(_shot(browser, out / "report.png"))

            # The finished call opened afresh on a laptop-sized screen.
            with headless_chromium(*LAPTOP) as laptop:
                _viewport(laptop, *LAPTOP)
                _log_in(laptop, base)
                laptop.get(f"{base}/ui/calls/{calls.genesys_id}")
                wait_for("the finished call", lambda: count(laptop, "audio#recording"))
                wait_for("its utterances", lambda: count(laptop, UTTERANCE) >= 5)
                wait_for("the player's duration", partial(_audio_ready, laptop))
                saved.append(_shot(laptop, out / "call-laptop.png"))
        finally:
            server.stop()
    for path in saved:
        print(f"{path}  ({path.stat().st_size // 1024} kB)")
    print(f"machine: {_cpu_name()}, {os.cpu_count()} CPUs, {platform.platform()}")
    return 0


def _viewport(driver: Any, width: int, height: int) -> None:
    """Size the window so that the page itself (window.innerWidth x innerHeight) is `width` x `height`:
    Chromium's --window-size counts its own (invisible, headless) frame too."""
    for _ in range(3):
        inner: list[int] = driver.execute_script("return [window.innerWidth, window.innerHeight]")
        if inner == [width, height]:
            return
        outer = driver.get_window_size()
        driver.set_window_size(outer["width"] + width - inner[0], outer["height"] + height - inner[1])
    print(f"warning: the viewport is {inner[0]}x{inner[1]}, not {width}x{height}", file=sys.stderr)


def _any_text(driver: Any, selector: str) -> bool:
    return any(text.strip() for text in texts(driver, selector))


def _audio_ready(driver: Any) -> bool:
    """The player knows the recording's length (so it shows 0:00 / m:ss rather than 0:00 / 0:00)."""
    ready: bool = driver.execute_script(
        "const a = document.querySelector('audio#recording'); return !!a && a.readyState >= 1 && a.duration > 0"
    )
    return ready


def _shot(driver: Any, path: Path) -> Path:
    """Save the viewport once the page is still: the chart has resized and no update's flash is running
    (a live call redraws every few seconds, so after 8 s it is taken anyway)."""
    time.sleep(0.5)
    still = "return document.getAnimations().filter(a => a.playState === 'running').length === 0"
    deadline = time.monotonic() + 8
    while not driver.execute_script(still) and time.monotonic() < deadline:
        time.sleep(0.1)
    driver.save_screenshot(str(path))
    return path


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    raise SystemExit(main())
