"""The operator dashboard in a real headless browser (Debian's chromium, driven through its
chromedriver with Selenium): the page shows the counts of what was filed, live, finds a dossier's
timeline by its code, and leaves a screenshot in .lienthong/screenshots/ for the test output."""

from __future__ import annotations

import asyncio
import random

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from contracts.status import DossierStatus as S
from infra.pytest_plugin import Hub
from tests.integration.conftest import cells, screenshot
from tests.integration.test_dashboard import file_done_and_refused, running_dashboard


async def test_the_dashboard_shows_what_was_filed_and_a_timeline_in_a_real_browser(
    hub: Hub, rng: random.Random, browser: webdriver.Chrome
):
    async with running_dashboard(hub) as (board, server):
        filings = await file_done_and_refused(hub, rng)
        done, refused = (filing["ma_ho_so"] for filing in filings)
        await asyncio.to_thread(browser.get, server.base_url + "/")

        def shows_the_board(_: object) -> bool:
            expected = [
                [r["procedure"], f"{r['status']} {r['label']}", str(r["count"])] for r in board.summary()["finished"]
            ]
            return bool(expected) and cells(browser, "finished") == expected and {done, refused} <= set(board.dossiers)

        await asyncio.to_thread(WebDriverWait(browser, 30, poll_frequency=0.3).until, shows_the_board)
        finished = {row[1]: int(row[2]) for row in cells(browser, "finished") if row[0] == "birth_bundle"}
        assert finished[f"10 {S.RESULT_RETURNED.label}"] >= 1 and finished[f"3 {S.NOT_ACCEPTED.label}"] >= 1

        def search(_: object) -> bool:
            return len(cells(browser, "timeline")) >= 10

        code = browser.find_element(By.ID, "code")
        await asyncio.to_thread(code.send_keys, done)
        await asyncio.to_thread(browser.find_element(By.CSS_SELECTOR, "#search button").click)
        await asyncio.to_thread(WebDriverWait(browser, 30, poll_frequency=0.3).until, search)
        statuses = [row[1] for row in cells(browser, "timeline") if row[1].startswith("→")]
        assert statuses == ["→ 1", "→ 2", "→ 4", "→ 9", "→ 10"]
        assert filings[0]["so_dinh_danh_me"] not in browser.page_source  # no personal ID on the page

        screenshot(browser, "dashboard.png")
