"""Screenshots of the supervisor pages (docs/ui.md), for reviews and the closing notes; not committed.

    .venv/bin/python scripts/ui_screenshots.py [--out DIR]

Starts the real server in this process with the real models (as the tests do), streams two calls
through it (the labelled analytics call on the Genesys door, the two-voice dialogue on the simple
dialect), logs in with headless Chromium and saves `floor.png` (both calls live), `call-live.png` (the
Genesys call while it runs), `call-finished.png` and `call-laptop.png` (after it ended, 1280x800 and
1366x768) and `report.png` (its QA report opened from file://). About two minutes on two cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import RunningServer, make_settings
from tests.ui.browser import headless_chromium
from tests.ui.test_browser import Calls, _log_in, count, texts, wait_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/audiohook-ui-screenshots"))
    out: Path = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        server = RunningServer(make_settings(Path(tmp))).start()
        try:
            base = f"http://127.0.0.1:{server.port}"
            with headless_chromium(1280, 800) as browser:
                _log_in(browser, base)
                calls = Calls(server)
                try:
                    for sid in (calls.genesys_id, calls.simple_id):
                        wait_for(f"{sid} on the floor", partial(count, browser, f"tr.call-row[data-session='{sid}']"))
                    wait_for("an alert on the floor", lambda: any(t.strip() for t in texts(browser, "td.c-alert")))
                    saved.append(_shot(browser, out / "floor.png"))
                    browser.get(f"{base}/ui/calls/{calls.genesys_id}")
                    wait_for("an alert in the call", lambda: count(browser, "#alerts li.alert"))
                    wait_for("a few utterances", lambda: count(browser, "#transcript .utterance") >= 8)
                    saved.append(_shot(browser, out / "call-live.png"))
                finally:
                    calls.join()
                wait_for("the finished call", lambda: count(browser, "audio#recording"))
                saved.append(_shot(browser, out / "call-finished.png"))
                report = server.recordings / f"{calls.genesys_id}.report.html"
                wait_for("the report", report.is_file, timeout=30)
                browser.get(report.as_uri())
                wait_for("the report's transcript", lambda: count(browser, ".utterance") >= 5)
                saved.append(_shot(browser, out / "report.png"))
            with headless_chromium(1366, 768) as laptop:
                _log_in(laptop, base)
                laptop.get(f"{base}/ui/calls/{calls.genesys_id}")
                wait_for("the finished call", lambda: count(laptop, "audio#recording"))
                saved.append(_shot(laptop, out / "call-laptop.png"))
        finally:
            server.stop()
    for path in saved:
        print(path)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")


def _shot(driver: object, path: Path) -> Path:
    import time

    time.sleep(0.5)  # the chart's resize and the last redraw
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    return path


if __name__ == "__main__":
    main()
