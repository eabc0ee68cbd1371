"""The Space in a real browser: headless Chromium (Debian `chromium` + `chromium-driver`) driven by Selenium.

Loads the running Space on 127.0.0.1 (the server of tests/test_space.py: no captioning model, a tiny CLIP) and
uses every tab as a person would: uploads through the page's file inputs, clicks, waits for the outputs. Checks
that the Captions tab says no captioner is configured (and shows no caption of another image), that a batch
of 4 uploads comes back as a zip with 4 IR PNGs and the captions, and that dataset and search thumbnails render
at >= 160 px. A screenshot of every tab is saved under pytest's tmp_path; with FUSIONRS_SPACE_SCREENSHOT=1 they
are also written to docs/images/space_<tab>.png (the pictures in docs/space.md), palette-compressed. Skips where
Chromium is absent; `.ci/run` installs it.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DOCS_IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"
WAIT_S = 120  # first model load on a busy 2-core machine
MIN_THUMB_PX = 160
TABS = {"translate": "RGB → IR", "captions": "Captions", "zero_shot": "Zero-shot classification", "search": "Search",
        "dataset": "Dataset", "batch": "Batch"}

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
                 "--disable-sync", f"--user-data-dir={profile}", "--window-size=1280,1500"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    browser.set_page_load_timeout(WAIT_S)
    yield browser
    browser.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _upload(browser, container_id: str, *paths: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.find_element(By.CSS_SELECTOR, f"#{container_id} input[type=file]").send_keys("\n".join(map(str, paths)))


def _click_tab(browser, name: str) -> None:
    from selenium.webdriver.common.by import By

    for button in browser.find_elements(By.CSS_SELECTOR, "button[role=tab]"):
        if button.text.strip() == name:
            button.click()
            return
    raise AssertionError(f"no tab named {name!r}")


def _shot(browser, tmp_path: Path, tab: str) -> Path:
    """Screenshot the page (top of the page, this tab open); a docs copy on purpose only."""
    browser.execute_script("window.scrollTo(0, 0)")
    path = tmp_path / f"space_{tab}.png"
    browser.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    if os.environ.get("FUSIONRS_SPACE_SCREENSHOT"):  # refresh the pictures in docs/space.md on purpose only
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        # 128-colour palette: a UI screenshot stays legible at a fraction of the bytes.
        Image.open(path).convert("RGB").quantize(colors=128).save(DOCS_IMAGES / f"space_{tab}.png", optimize=True)
    return path


def _rendered_widths(browser, selector: str) -> list[int]:
    from selenium.webdriver.common.by import By

    return [img.size["width"] for img in browser.find_elements(By.CSS_SELECTOR, selector) if img.is_displayed()]


def _fetch(url: str) -> bytes:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1: never through a proxy
    with opener.open(url, timeout=60) as response:
        return response.read()


def test_every_tab_in_chromium(space, driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from fusionrs.synth import generate_scene

    wait = WebDriverWait(driver, WAIT_S)

    def text_of(element_id: str) -> str:
        return driver.find_element(By.ID, element_id).text

    driver.get(space.url)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#translate-input input[type=file]")))

    # RGB -> IR: the generated IR image appears in its output component.
    _upload(driver, "translate-input", space.rgb)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#translate-input img")))
    driver.find_element(By.ID, "translate-button").click()
    ir = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#translate-ir img")))
    assert ir.get_attribute("src")
    wait.until(lambda d: "fusionrs translator" in text_of("translate-info"))
    _shot(driver, tmp_path, "translate")

    # Captions without a captioner: the page says so, the conventional caption box holds that statement (never a
    # caption of another image) and the IR-aware caption is the grounded captioner's on this image.
    _click_tab(driver, TABS["captions"])
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#caption-input input[type=file]")))
    assert "No captioning model is configured" in text_of("caption-status")
    _upload(driver, "caption-input", space.rgb)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#caption-input img")))
    driver.find_element(By.ID, "caption-button").click()

    def caption_text(d):
        values = [d.find_element(By.CSS_SELECTOR, f"#{i} textarea").get_attribute("value")
                  for i in ("caption-text", "ir-caption-text")]
        return values if all(values) else False

    caption, ir_caption = wait.until(caption_text)
    assert caption.startswith("(no conventional caption: this Space has no captioning model configured")
    assert ir_caption.startswith("In this infrared-style image of the scene")
    assert "none written: no captioning model is configured" in text_of("caption-info")
    _shot(driver, tmp_path, "captions")

    # Zero-shot: an RGB upload classified as IR (translated; the note says so).
    _click_tab(driver, TABS["zero_shot"])
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#classify-input input[type=file]")))
    _upload(driver, "classify-input", space.rgb)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#classify-input img")))
    driver.find_element(By.XPATH, "//label[.//span[normalize-space()='IR']]//input[@type='radio']").click()
    driver.find_element(By.ID, "classify-button").click()
    wait.until(lambda d: "as IR (IR translated from your RGB image" in text_of("classify-info"))
    _shot(driver, tmp_path, "zero_shot")

    # Search by text: gallery thumbnails at >= 160 px.
    _click_tab(driver, TABS["search"])
    query = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#search-query textarea")))
    query.send_keys("a river crossing farmland")
    driver.find_element(By.ID, "search-button").click()
    wait.until(lambda d: "cosine similarity of the text" in text_of("search-info"))
    wait.until(lambda d: len(_rendered_widths(d, "#search-gallery img")) >= 8)
    assert min(_rendered_widths(driver, "#search-gallery img")) >= MIN_THUMB_PX
    _shot(driver, tmp_path, "search")

    # Dataset: the first page, RGB and IR thumbnails at >= 160 px.
    _click_tab(driver, TABS["dataset"])
    wait.until(lambda d: len(_rendered_widths(d, "#dataset-rows img")) >= 2)
    widths = _rendered_widths(driver, "#dataset-rows img")
    assert min(widths) >= MIN_THUMB_PX, widths
    _shot(driver, tmp_path, "dataset")

    # Batch: 4 uploads -> one zip with 4 IR PNGs and the captions as JSON and CSV.
    _click_tab(driver, TABS["batch"])
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#batch-input input[type=file]")))
    paths = []
    for index, scene_index in enumerate((0, 5, 8, 11)):  # airport, river, beach, port
        scene = generate_scene(scene_index, seed=4, size=128)
        paths.append(tmp_path / f"batch{index}_{scene.class_name}.png")
        Image.fromarray(scene.rgb).save(paths[-1])
    _upload(driver, "batch-input", *paths)
    wait.until(lambda d: all(p.stem in text_of("batch-input") for p in paths))  # names wrap before ".png"
    driver.find_element(By.ID, "batch-button").click()
    link = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#batch-zip a[href]")))
    wait.until(lambda d: len(_rendered_widths(d, "#batch-gallery img")) >= 4)
    assert min(_rendered_widths(driver, "#batch-gallery img")) >= MIN_THUMB_PX
    with zipfile.ZipFile(io.BytesIO(_fetch(link.get_attribute("href")))) as archive:
        names = sorted(archive.namelist())
        assert names == sorted(["captions.csv", "captions.json"] + [f"ir/{p.stem}.png" for p in paths])
        for p in paths:
            ir_png = Image.open(io.BytesIO(archive.read(f"ir/{p.stem}.png")))
            assert ir_png.mode == "L" and ir_png.size == (128, 128)
        captions = json.loads(archive.read("captions.json"))
        rows = archive.read("captions.csv").decode().strip().splitlines()
    assert [item["file"] for item in captions["items"]] == [p.name for p in paths]
    assert all(item["caption"] is None and item["ir_aware_caption"].startswith("In this infrared-style image")
               for item in captions["items"])
    assert "no captioning model is configured" in captions["source"]
    assert rows[0] == "file,ir_file,caption,ir_aware_caption" and len(rows) == 5
    _shot(driver, tmp_path, "batch")
