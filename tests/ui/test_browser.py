"""The supervisor pages in a real browser (headless Debian Chromium driven by Selenium) against the real
server with the real models, while two calls stream through it: the labelled analytics call on the
Genesys door (stereo μ-law; its angry customer raises an alert) and the two-voice dialogue on the
simple dialect (mono, diarized). The browser logs in, sees both calls appear on the floor and their
transcripts grow, opens the Genesys call and finds its utterances, the sentiment curve and an alert,
reloads and still finds them, logs out and is refused. Then the QA report each call left beside its
CSV opens from file:// with no server and shows the same transcript."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from audiohook_server.audio.wav_files import read_wav
from audiohook_server.client import stream_wav
from audiohook_server.client.genesys import GenesysClient, media_offer
from tests.conftest import API_KEY, RunningServer
from tests.speech_fixtures import DIALOGUE
from tests.ui.browser import browser_available, console_errors, headless_chromium

pytestmark = pytest.mark.skipif(not browser_available(), reason="needs Debian's chromium and chromium-driver")

ANALYTICS = Path(__file__).parents[1] / "fixtures" / "analytics" / "call_stereo8k_ulaw.wav"
WAIT_S = 120.0


def wait_for(what: str, check: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


class Calls:
    """The two calls, streaming in threads of their own (each client on its own event loop)."""

    def __init__(self, server: RunningServer) -> None:
        self.genesys_id = str(uuid.uuid4())
        self.simple_id = f"ui-simple-{uuid.uuid4().hex[:8]}"
        self.errors: list[BaseException] = []
        audio, rate = read_wav(ANALYTICS)
        assert rate == 8000

        async def genesys() -> None:
            client = GenesysClient(server.url, API_KEY, session_id=self.genesys_id)
            await client.connect()
            await client.open(media=[media_offer(["external", "internal"])])
            client.start_pinging()
            await client.stream(audio, fmt="PCMU", frame_ms=200, speed=2.5)
            await client.close(timeout=300)
            await client.aclose()

        async def simple() -> None:
            result = await stream_wav(
                server.url, DIALOGUE / "call_mono16k.wav", api_key=API_KEY, speed=1.5, session_id=self.simple_id
            )
            assert result.ok, (result.errors, result.close_code)

        self.threads = [threading.Thread(target=self._run, args=(call,), daemon=True) for call in (genesys, simple)]
        for thread in self.threads:
            thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            asyncio.run(call())
        except BaseException as exc:
            self.errors.append(exc)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(400)
        assert not self.errors, self.errors


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with headless_chromium() as driver:
        yield driver


def count(driver: Any, selector: str) -> int:
    """How many elements match now (read in the page: the pages redraw, so element handles go stale)."""
    found: int = driver.execute_script("return document.querySelectorAll(arguments[0]).length", selector)
    return found


def texts(driver: Any, selector: str) -> list[str]:
    found: list[str] = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(n => n.textContent)", selector
    )
    return found


def click(driver: Any, selector: str) -> None:
    """A real click on the element (found again if the page redrew it in between)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    for _ in range(20):
        try:
            driver.find_element(By.CSS_SELECTOR, selector).click()
            return
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise AssertionError(f"{selector} kept being redrawn")


def _log_in(driver: Any, base: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/ui/")
    driver.find_element(By.ID, "credential").send_keys(API_KEY)  # the 401 answer is the login form
    click(driver, "form[action='/ui/login'] button")
    wait_for("the floor", lambda: count(driver, "#floor-table"))
    errors = console_errors(driver, ignore=("status of 401",))  # the login form came as the 401 answer
    assert errors == [], errors


def _row_text(driver: Any, session: str) -> str | None:
    found = texts(driver, f"tr.call-row[data-session='{session}'] td.c-text")
    return found[0] if found else None


def _row_changed(driver: Any, session: str, before: str) -> bool:
    return _row_text(driver, session) not in (None, before)


def test_the_floor_and_a_call_live_then_logout_and_the_reports(server: RunningServer, browser: Any) -> None:
    base = f"http://127.0.0.1:{server.port}"
    _log_in(browser, base)
    calls = Calls(server)
    utterance = "#transcript .utterance:not(.partial)"
    try:
        # Both calls appear on the floor, and what was said last changes as the transcripts grow.
        first = {
            sid: wait_for(f"a transcript line for {sid}", partial(_row_text, browser, sid))
            for sid in (calls.genesys_id, calls.simple_id)
        }
        for sid, text in first.items():
            wait_for(f"{sid}'s transcript to grow", partial(_row_changed, browser, sid, text))
        assert count(browser, f"#floor-calls tr.call-row[data-session='{calls.genesys_id}']") == 1

        # The Genesys call's own view: utterances coloured by speaker, the valence curve, an alert.
        click(browser, f"tr.call-row[data-session='{calls.genesys_id}'] a.call-link")
        seen = wait_for("utterances", lambda: count(browser, utterance))
        wait_for("more utterances", lambda: count(browser, utterance) > seen)
        assert count(browser, "#transcript .utterance.speaker-customer")
        assert count(browser, "#transcript .utterance.speaker-agent")
        assert count(browser, "#sentiment-chart canvas")
        alerts = wait_for("an alert", lambda: texts(browser, "#alerts li.alert"))
        assert any("customer" in alert for alert in alerts), alerts
        assert count(browser, "#timeline .alert-marker")
        seen = count(browser, utterance)

        browser.refresh()
        wait_for("the utterances after a reload", lambda: count(browser, utterance) >= seen)
        assert count(browser, "#alerts li.alert") and count(browser, "#sentiment-chart canvas")
        assert console_errors(browser) == []
    finally:
        calls.join()

    # The finished call: the same page from its files, with the recording to play.
    wait_for("the ended call's page", lambda: "ended" in " ".join(texts(browser, "#status")))
    wait_for("the recording", lambda: count(browser, "audio#recording"))
    assert count(browser, "#transcript button.play") >= 5

    # Logging out ends the session: the pages and their data are refused.
    click(browser, "form.logout button")
    wait_for("the login form", lambda: count(browser, "#credential"))
    status = browser.execute_script(
        "return fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.status)",
        f"/ui/calls/{calls.genesys_id}/data",
    )
    assert status == 401
    browser.get(f"{base}/ui/calls/{calls.genesys_id}")
    assert count(browser, "#credential") and not count(browser, "#transcript")
    console_errors(browser)  # the refused page's 401 is logged: expected

    # Each call left its QA report beside its CSV: it opens offline and shows the transcript and curve.
    for sid in (calls.genesys_id, calls.simple_id):
        report = server.recordings / f"{sid}.report.html"
        wait_for(f"{report.name}", report.is_file, timeout=30)
        browser.get(report.as_uri())
        wait_for("the report's utterances", lambda: count(browser, ".utterance") >= 5)
        assert count(browser, "#sentiment-chart canvas") and count(browser, "#score table")
        assert console_errors(browser) == []
