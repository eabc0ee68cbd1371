"""The Space in a real browser: headless Chromium (Debian `chromium` + `chromium-driver`) driven by Selenium.

Loads the running Space on 127.0.0.1 (the server of tests/test_space.py), uploads an RGB image through the
page's file input, clicks Translate and Caption, waits for the IR image and the caption text, and saves a
screenshot under pytest's tmp_path. With FUSIONRS_SPACE_SCREENSHOT=1 it also writes
docs/images/space_screenshot.png (the picture in docs/space.md). Skips where Chromium is absent; `.ci/run`
installs it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DOCS_SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "images" / "space_screenshot.png"
WAIT_S = 120  # first model load on a busy 2-core machine

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
    reason="Chromium not installed (/usr/bin/chromium and /usr/bin/chromedriver from Debian's chromium and "
           "chromium-driver packages; .ci/run installs them)",
)


@pytest.fixture(scope="module")
def space():
    from tests.test_space import shared_space

    return shared_space()


@pytest.fixture(scope="module")
def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="fusionrs-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-sync", f"--user-data-dir={profile}", "--window-size=1280,1400"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    browser.set_page_load_timeout(WAIT_S)
    yield browser
    browser.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _upload(browser, container_id: str, path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.find_element(By.CSS_SELECTOR, f"#{container_id} input[type=file]").send_keys(str(path))


def _click_tab(browser, name: str) -> None:
    from selenium.webdriver.common.by import By

    for button in browser.find_elements(By.CSS_SELECTOR, "button[role=tab]"):
        if button.text.strip() == name:
            button.click()
            return
    raise AssertionError(f"no tab named {name!r}")


def test_upload_translate_and_caption_in_chromium(space, driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, WAIT_S)
    driver.get(space.url)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#translate-input input[type=file]")))

    # RGB -> IR: the generated IR image appears in its output component.
    _upload(driver, "translate-input", space.rgb)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#translate-input img")))
    driver.find_element(By.ID, "translate-button").click()
    ir = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#translate-ir img")))
    assert ir.get_attribute("src")
    wait.until(lambda d: "fusionrs translator" in d.find_element(By.ID, "translate-info").text)
    translate_shot = tmp_path / "space_translate.png"
    driver.save_screenshot(str(translate_shot))

    # Captions: upload RGB only, the IR is translated, both captions come back as text.
    _click_tab(driver, "Captions")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#caption-input input[type=file]")))
    _upload(driver, "caption-input", space.rgb)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#caption-input img")))
    driver.find_element(By.ID, "caption-button").click()

    def caption_text(d):
        values = [d.find_element(By.CSS_SELECTOR, f"#{i} textarea").get_attribute("value")
                  for i in ("caption-text", "ir-caption-text")]
        return values if all(values) else False

    caption, ir_caption = wait.until(caption_text)
    assert ir_caption.startswith("In this infrared-style image")
    caption_shot = tmp_path / "space_caption.png"
    driver.save_screenshot(str(caption_shot))
    assert translate_shot.stat().st_size > 10_000 and caption_shot.stat().st_size > 10_000

    if os.environ.get("FUSIONRS_SPACE_SCREENSHOT"):  # refresh the picture in docs/space.md on purpose only
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(translate_shot, DOCS_SCREENSHOT)
