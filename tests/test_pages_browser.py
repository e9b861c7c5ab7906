"""The pages in a real browser: Debian's headless Chromium driven by selenium through chromedriver, against real
gunicorn on the test corpus plus a document holding a script tag. Skipped, with the reason, when chromium or
chromedriver is not installed (`apt-get install chromium chromium-driver`; .ci/run installs them).

Screenshots at 375 and 1280 px wide are saved in the test's tmp folder (printed with -s)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import build_index, write_corpus
from servers import Server, run_gunicorn

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip(
        "the browser tests need Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402  (only once the browser is known to be there)
from selenium.common.exceptions import (  # noqa: E402
    NoAlertPresentException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

SCRIPT_DOC = {
    "id": "script-in-text",
    "title": "Reader comments <script>alert(1)</script> on the ferry",
    "body": "A reader in Lisbon wrote <script>alert(1)</script> under the ferry timetable on March 3, 2021. "
    'Another wrote <img src=x onerror="alert(2)">.',
    "published": "2021-03-04",
    "source": "<b>comments</b>",
}
# Chromium's own switches for a closed network: no background connections, no first-run work.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("browser")
    corpus = write_corpus(tmp / "corpus", extra=[SCRIPT_DOC])
    build_index(corpus, tmp / "index")
    with run_gunicorn(tmp / "index", tmp / "gunicorn.log", workers=1) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(dir=tmp_path_factory.mktemp("chromium-profile"))
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument("--window-size=1280,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # A driver path given: selenium does not look for (or download) one.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def b(browser: WebDriver, server: Server) -> Iterator[Browser]:
    helper = Browser(browser, server.base)
    helper.width(1280)
    browser.get_log("browser")  # start each test with an empty console
    yield helper
    helper.assert_quiet()


def _gone(element: WebElement) -> bool:
    """Whether `element`'s page was left. Selenium's staleness_of knows one answer, a stale element; Chromium
    mid-navigation may answer that the node's id belongs to no document (a failure of a full run)."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc) or "No node with given id" in str(exc):
            return True
        raise
    return False


class Browser:
    def __init__(self, driver: WebDriver, base: str) -> None:
        self.d = driver
        self.base = base

    def open(self, path: str) -> None:
        self.d.get(self.base + path)

    def width(self, px: int) -> None:
        self.d.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": px, "height": 900, "deviceScaleFactor": 1, "mobile": px < 600},
        )

    def go(self, element: WebElement, *keys: str) -> None:
        """Click `element` (or send it `keys`) and wait for the page it leads to."""
        old = self.d.find_element(By.TAG_NAME, "html")
        if keys:
            element.send_keys(*keys)
        else:
            element.click()
        WebDriverWait(self.d, 10).until(lambda _: _gone(old))
        WebDriverWait(self.d, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")

    def find(self, css: str) -> WebElement:
        return self.d.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[WebElement]:
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def args(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.d.current_url).query)

    def active_filters(self) -> list[str]:
        return [" ".join(e.text.replace("×", "").split()) for e in self.all(".active .chip")]

    def assert_quiet(self) -> None:
        """No console errors, and no dialog open (a script that ran would have opened one)."""
        try:
            text = self.d.switch_to.alert.text
        except NoAlertPresentException:
            text = None
        assert text is None, f"a dialog opened: {text!r}"
        problems = [e for e in self.d.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert problems == [], problems


def test_type_a_query_and_see_highlighted_results(b: Browser) -> None:
    b.open("/")
    box = b.find("input#q")
    box.send_keys("harbour")
    b.go(b.find("form.search button[type=submit]"))
    assert b.args()["q"] == ["harbour"]
    titles = [e.text for e in b.all(".hit h3 a")]
    assert "Harbour notes" in titles
    assert any(m.text.lower() == "harbour" for m in b.all(".hit mark"))
    assert "documents" in b.find("#results-h").text


def test_click_a_facet_then_an_entity_chip(b: Browser) -> None:
    b.open("/?q=minister")
    place = next(a for a in b.all("#refine .facet a") if a.text == "China")
    b.go(place)
    assert b.args()["place"] == ["China"]
    assert "place: China" in b.active_filters()
    chip = next(a for a in b.all(".hit .chip.person") if a.text == "Wang Yi")
    b.go(chip)
    assert b.args()["person"] == ["Wang Yi"] and b.args()["place"] == ["China"]
    assert {"place: China", "person: Wang Yi"} <= set(b.active_filters())
    remove = next(a for a in b.all(".active .chip") if "person: Wang Yi" in a.text)
    b.go(remove)
    assert "person" not in b.args()


def test_click_a_timeline_bar(b: Browser) -> None:
    b.open("/")
    bars = b.all("figure[aria-labelledby=tl-published] svg a")
    assert bars
    label = bars[-1].get_attribute("aria-label") or ""
    month = label.split(":")[0]
    b.go(bars[-1])
    assert b.args()["published_from"] == [month] and b.args()["published_to"] == [month]
    assert f"published from: {month}" in b.active_filters()
    assert all((t.get_attribute("datetime") or "").startswith(month) for t in b.all(".hit .meta time"))
    b.open("/")
    mentioned = b.all("figure[aria-labelledby=tl-mentioned] svg a")
    month = (mentioned[0].get_attribute("aria-label") or "").split(":")[0]
    b.go(mentioned[0])
    assert b.args()["mentioned_from"] == [month] and f"mentions dates from: {month}" in b.active_filters()


def test_open_a_document_then_an_entity_page(b: Browser) -> None:
    b.open("/?q=Blinken")
    b.go(b.find(".hit h3 a"))
    assert b.find("h1").text == "Wang Yi meets Blinken in Alaska"
    date = b.find(".body time.m.date")
    assert date.get_attribute("title").startswith("2021-03-18")
    assert b.all("#similar-h ~ ul a")
    b.go(next(a for a in b.all(".body a.m.person") if a.text == "Wang Yi"))
    assert b.find("h1").text.startswith("Wang Yi")
    assert "Named in" in b.find(".lead").text
    assert b.all("figure.timeline svg a")
    seen_with = [a.text for a in b.all(".facet a")]
    assert "Alaska" in seen_with


def test_keyboard_only(b: Browser) -> None:
    b.open("/")
    body = b.find("body")
    body.send_keys(Keys.TAB)  # the skip link
    assert b.d.switch_to.active_element.text == "Skip to content"
    for _ in range(10):
        b.d.switch_to.active_element.send_keys(Keys.TAB)
        if b.d.switch_to.active_element.get_attribute("id") == "q":
            break
    assert b.d.switch_to.active_element.get_attribute("id") == "q"
    b.go(b.d.switch_to.active_element, "ferry", Keys.ENTER)
    assert b.args()["q"] == ["ferry"]
    for _ in range(40):  # on to the first result's link
        b.d.switch_to.active_element.send_keys(Keys.TAB)
        if b.d.switch_to.active_element.get_attribute("href") and "/doc/" in (
            b.d.switch_to.active_element.get_attribute("href") or ""
        ):
            break
    focused = b.d.switch_to.active_element
    outline = b.d.execute_script("return getComputedStyle(arguments[0]).outlineStyle", focused)
    assert outline != "none"  # the focus is visible
    b.go(focused, Keys.ENTER)
    assert "/doc/" in b.d.current_url and b.find("h1").text


def test_a_script_in_a_document_stays_text(b: Browser) -> None:
    b.open("/?q=alert")
    assert any("<script>alert(1)</script>" in e.text for e in b.all(".hit h3 a"))
    b.go(b.find(".hit h3 a"))
    assert b.find("h1").text == SCRIPT_DOC["title"]
    assert '<img src=x onerror="alert(2)">' in b.find(".body").text
    assert "<b>comments</b>" in b.find(".meta").text
    assert b.d.execute_script("return document.scripts.length") == 0
    assert b.all(".body img") == []


def test_errors_and_empty_results_are_words(b: Browser) -> None:
    b.open("/?q=AND")
    assert "could not run" in b.find(".error").text
    b.open("/?q=zzzqqq")
    assert "Things to try" in b.find(".empty").text
    b.open("/doc/no-such-document")
    assert "no document with the id" in b.find(".error").text
    # Chromium logs the 400 and 404 answers themselves as failed loads; nothing else may be there.
    logged = [e["message"] for e in b.d.get_log("browser")]
    assert logged and all("the server responded with a status of 40" in m for m in logged), logged


@pytest.mark.parametrize("width", [375, 1280])
def test_screenshots_and_no_sideways_scroll(b: Browser, width: int, tmp_path: Path) -> None:
    b.width(width)
    for name, path in (("search", "/?q=minister"), ("document", "/doc/wang-alaska"), ("entity", "/entity/place/China")):
        b.open(path)
        overflow = b.d.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (name, width, overflow)
        shot = tmp_path / f"{name}-{width}.png"
        assert b.d.save_screenshot(str(shot))
        assert shot.stat().st_size > 1000
    print(f"screenshots: {tmp_path}")
