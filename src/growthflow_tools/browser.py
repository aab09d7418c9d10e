"""Debian's headless Chromium driven by Selenium, on Superset's dashboards (tests and bench).

Uses the system browser and driver (`/usr/bin/chromium`, `/usr/bin/chromedriver`); Selenium's
own driver manager is never asked to download anything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from growthflow_tools.bi import CHROMEDRIVER, CHROMIUM

HOLDER = '[data-test="dashboard-component-chart-holder"]'
#: What Superset draws while a chart's query runs.
LOADING = f'{HOLDER} [aria-label="Loading"], {HOLDER} .loading, {HOLDER} [data-test="loading-indicator"]'
#: What Superset draws instead of a chart when its query or rendering failed.
ERRORS = (f'{HOLDER} .ant-alert-error, {HOLDER} [role="alert"], {HOLDER} [data-test="error-message"], '
          f'{HOLDER} .error-message')
EMPTY_TEXT = "No results were returned"


def chrome(width: int = 1600, height: int = 1400):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={width},{height}", "--hide-scrollbars"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))


def login(driver, url: str, username: str, password: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{url}/login/")
    WebDriverWait(driver, 30).until(ec.presence_of_element_located((By.ID, "username"))).send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password + Keys.ENTER)
    # The first login after a start can wait on the server's first requests (a loaded 2-core
    # machine took more than 30 s once): the same patience as a dashboard's charts.
    WebDriverWait(driver, 90).until(lambda d: "/login" not in d.current_url,
                                    message=f"still on the login page of {url} after 90 s")


@dataclass
class Rendered:
    seconds: float  #: from navigation until every chart has drawn
    charts: dict[str, str]  #: chart name -> its visible text
    errors: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)


def open_dashboard(driver, url: str, expected_charts: int, timeout: float = 90) -> Rendered:
    """Open a dashboard and wait until each of its charts has drawn (no spinner, content in place)."""
    from selenium.webdriver.common.by import By

    started = time.monotonic()
    driver.get(url)
    while True:
        holders = driver.find_elements(By.CSS_SELECTOR, HOLDER)
        if len(holders) >= expected_charts and not driver.find_elements(By.CSS_SELECTOR, LOADING):
            # Finished: drawn, or replaced by Superset's error alert (reported below, not waited out).
            done = [h for h in holders if h.find_elements(By.CSS_SELECTOR, '[data-test="slice-container"] *, '
                                                                          '[role="alert"]')]
            if len(done) == len(holders):
                break
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{url}: {len(holders)} of {expected_charts} charts drawn after {timeout:.0f}s")
        time.sleep(0.2)
    seconds = time.monotonic() - started
    charts, empty = {}, []
    for holder in holders:
        name = holder.find_element(By.CSS_SELECTOR, "[data-test-chart-name]").get_attribute("data-test-chart-name")
        charts[name] = holder.text
        if EMPTY_TEXT in holder.text:
            empty.append(name)
    errors = [e.text or e.get_attribute("outerHTML")[:200] for e in driver.find_elements(By.CSS_SELECTOR, ERRORS)]
    return Rendered(seconds, charts, errors, empty)


def full_page_screenshot(driver, path: Path) -> Path:
    """A PNG of the whole dashboard, not only the window."""
    height = driver.execute_script(
        "const c = document.querySelector('[data-test=\"dashboard-content-wrapper\"]') || document.body;"
        "return Math.max(document.body.scrollHeight, c.scrollHeight + c.getBoundingClientRect().top);")
    size = driver.get_window_size()
    driver.set_window_size(size["width"], max(int(height) + 40, 900))
    time.sleep(0.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    driver.set_window_size(size["width"], size["height"])
    return path


def table_rows(driver, chart_name: str, columns: list[str]) -> list[list[str]]:
    """The cells of a table chart's rows under the given column ids, read from the page."""
    return driver.execute_script("""
        const holder = document.querySelector(`[data-test-chart-name="${arguments[0]}"]`);
        const headers = [...holder.querySelectorAll('thead th')].map(th => th.id);
        const index = arguments[1].map(c => headers.indexOf('header-' + c));
        if (index.includes(-1)) { return null; }
        return [...holder.querySelectorAll('tbody tr')].map(
            tr => index.map(i => tr.children[i].innerText.trim()));
    """, chart_name, columns)
