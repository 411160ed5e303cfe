"""Integration fixtures: a real broker, the sandbox agencies and hub workers, from lienthong's own
pytest plugin (:mod:`infra.pytest_plugin`, the fixtures agencies test with), so every run
exercises it.

Set KAFKA_CLIENTS_DIR (a folder of ``<principal>.properties`` client files, and optionally
KAFKA_BOOTSTRAP_SERVERS) to use an existing cluster; otherwise a broker is started on free ports in a
temporary folder (SASL_SSL, ACLs, a client file per principal) and stopped afterwards. Every hub
gets a topic namespace of its own, so runs (and the hubs of one run) never see each other's messages.

``hub`` is shared by the session and its clock never moves; tests that move time take
``clock_hub``, a second worker with its own topics, sandbox agencies and clock. Each test draws its
sample data from its own ``rng`` and sets fault switches through ``switch``, which undoes them after
the test, pass or fail.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from infra.harness.broker import ClientFiles
from infra.pytest_plugin import Hub, running_hub

FIXTURE_PROCEDURES = Path(__file__).parent / "procedures"
CLOCK_HUB_STEP_TIMEOUT_S = 30
"""``clock_hub`` re-sends an unanswered step only after this long, unless the step sets its own
``reply_timeout_s``: longer than any wait in its tests, so a quicker re-send is the step's own."""
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".lienthong" / "screenshots"


@pytest.fixture(scope="session")
def kafka(lienthong_kafka: ClientFiles) -> ClientFiles:
    """The client properties of every principal on the cluster the tests run on (the plugin's)."""
    return lienthong_kafka


@pytest.fixture(scope="session")
async def hub(kafka, tmp_path_factory) -> Hub:
    """The hub most tests share. Its clock never moves: every dossier of the session is in flight on it."""
    async with running_hub(
        kafka, tmp_path_factory.mktemp("hub"), "shared", procedures_dir=FIXTURE_PROCEDURES
    ) as shared:
        yield shared


@pytest.fixture(scope="module")
async def clock_hub(kafka, tmp_path_factory) -> Hub:
    """A hub whose clock a test may move, with its own topics and sandbox agencies; unanswered steps
    are sent again after ``CLOCK_HUB_STEP_TIMEOUT_S`` unless their procedure says otherwise."""
    run_dir = tmp_path_factory.mktemp("clock-hub")
    async with running_hub(
        kafka,
        run_dir,
        "clock",
        procedures_dir=FIXTURE_PROCEDURES,
        clock_offset_file=run_dir / "clock-offset",
        step_timeout_s=CLOCK_HUB_STEP_TIMEOUT_S,
    ) as own:
        try:
            yield own
        finally:
            await own.move_clock(0)


@pytest.fixture
def rng(request) -> random.Random:
    """Sample data for this test alone, the same whichever tests run with it (seeded by the node id)."""
    return random.Random(request.node.nodeid)


@pytest.fixture
def switch(monkeypatch) -> Callable[[object, str, Any], None]:
    """Set a sandbox fault switch for this test, e.g. ``switch(hub.sandbox.tax, "refuse_confirmations", 1)``;
    the old value is back after the test, pass or fail. A misspelt switch is an error."""

    def set_switch(target: object, name: str, value: Any) -> None:
        monkeypatch.setattr(target, name, value, raising=True)

    return set_switch


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """Debian's headless chromium, driven through its chromedriver."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail("chromium and chromium-driver are needed (make browser installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        options.add_argument(flag)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()


def cells(browser: webdriver.Chrome, table: str) -> list[list[str]]:
    """The text of each cell of the page's table ``table``, row by row, without the header. Read in
    one script: the page rewrites its tables on every update, so elements found one call earlier
    may be gone (stale) by the next."""
    script = (
        "return Array.from(document.querySelectorAll(arguments[0] + ' tr')).slice(1)"
        ".map(row => Array.from(row.querySelectorAll('td')).map(cell => cell.innerText.trim()));"
    )
    return browser.execute_script(script, f"#{table}")


def screenshot(browser: webdriver.Chrome, name: str) -> None:
    """Save the page as .lienthong/screenshots/``name`` and say where, for the test output."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOTS / name))
    print(f"dashboard screenshot: {SCREENSHOTS / name}")
