"""Debian's Chromium, headless, driven by Selenium through Debian's chromedriver: the browser the
supervisor-page tests and scripts/ui_screenshots.py use.

Selenium (the W3C WebDriver project's own Python binding) rather than Playwright: it drives the
distribution's Chromium through the distribution's chromedriver, with nothing downloaded at run time
(Playwright's Python package wants its own browser build). The flags keep Chromium off the network
(these machines reach none of Google's hosts) and give it a fresh profile each time.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["CHROMEDRIVER", "CHROMIUM", "browser_available", "console_errors", "headless_chromium"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--mute-audio",
)


def browser_available() -> bool:
    return Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()


@contextlib.contextmanager
def headless_chromium(width: int = 1280, height: int = 800) -> Iterator[Any]:
    """A new headless Chromium at `width` x `height`, with its console log readable, for the block."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            driver.set_window_size(width, height)
            yield driver
        finally:
            driver.quit()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver: Any, ignore: tuple[str, ...] = ()) -> list[str]:
    """The browser console's errors since the last call (`ignore`: substrings of expected ones)."""
    entries = driver.get_log("browser")
    return [
        e["message"] for e in entries if e.get("level") == "SEVERE" and not any(text in e["message"] for text in ignore)
    ]
