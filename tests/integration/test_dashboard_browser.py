"""The operator dashboard in a real headless browser (Debian's chromium, driven through its
chromedriver with Selenium): the page shows the counts of what was filed, live, finds a dossier's
timeline by its code, and leaves a screenshot in .lienthong/screenshots/ for the test output."""

from __future__ import annotations

import asyncio
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from connectors.http_server import HttpServer
from contracts.status import DossierStatus as S
from infra.dashboard import Board, dashboard_app, follow
from infra.harness.net import free_port
from infra.sandbox.samples import birth_filing, unknown_mother_id
from tests.integration.conftest import Hub

SCREENSHOTS = Path(__file__).resolve().parents[2] / ".lienthong" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
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
    rows = browser.find_elements(By.CSS_SELECTOR, f"#{table} tr")
    return [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows[1:]]


async def test_the_dashboard_shows_what_was_filed_and_a_timeline_in_a_real_browser(
    hub: Hub, rng: random.Random, browser: webdriver.Chrome
):
    board = Board()
    reader = asyncio.create_task(follow(hub.operator, hub.topics, board))
    server = HttpServer(dashboard_app(board, hub.operator, hub.topics, tick_s=0.2))
    await server.start(free_port())
    try:
        done = birth_filing(hub.sandbox.population, rng, hub.seq())
        unknown = unknown_mother_id(hub.sandbox.population, rng)
        refused = birth_filing(hub.sandbox.population, rng, hub.seq(), mother_id=unknown)
        for filing in (done, refused):
            await hub.sandbox.justice.file_birth(filing)
        assert await hub.wait_final(done["ma_ho_so"]) is S.RESULT_RETURNED
        assert await hub.wait_final(refused["ma_ho_so"]) is S.NOT_ACCEPTED

        await asyncio.to_thread(browser.get, server.base_url + "/")

        def shows_the_board(_: object) -> bool:
            expected = [
                [r["procedure"], f"{r['status']} {r['label']}", str(r["count"])] for r in board.summary()["finished"]
            ]
            return (
                bool(expected)
                and cells(browser, "finished") == expected
                and {done["ma_ho_so"], refused["ma_ho_so"]} <= set(board.dossiers)
            )

        await asyncio.to_thread(WebDriverWait(browser, 30, poll_frequency=0.3).until, shows_the_board)
        finished = {row[1]: int(row[2]) for row in cells(browser, "finished") if row[0] == "birth_bundle"}
        assert finished[f"10 {S.RESULT_RETURNED.label}"] >= 1 and finished[f"3 {S.NOT_ACCEPTED.label}"] >= 1

        def search(_: object) -> bool:
            return len(cells(browser, "timeline")) >= 10

        code = browser.find_element(By.ID, "code")
        await asyncio.to_thread(code.send_keys, done["ma_ho_so"])
        await asyncio.to_thread(browser.find_element(By.CSS_SELECTOR, "#search button").click)
        await asyncio.to_thread(WebDriverWait(browser, 30, poll_frequency=0.3).until, search)
        statuses = [row[1] for row in cells(browser, "timeline") if row[1].startswith("→")]
        assert statuses == ["→ 1", "→ 2", "→ 4", "→ 9", "→ 10"]
        assert done["so_dinh_danh_me"] not in browser.page_source  # no personal ID on the page

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / "dashboard.png"
        assert browser.save_screenshot(str(shot))
        print(f"dashboard screenshot: {shot}")
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await server.stop()
