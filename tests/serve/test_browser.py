"""The page in a real browser: headless Chromium uploads images and reads the verdicts.

Uses Debian's `chromium` and `chromium-driver` (.ci/run installs them); nothing is
downloaded. The server is the real one (`python -m dfd.serve`, waitress) on loopback.
"""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import TF_ENV, jpeg_bytes
from dfd.bench.serve_load import free_port, wait_healthy
from dfd.lite.detector import Detector

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def server(tiny_export):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "dfd.serve",
                                f"--model={tiny_export / 'model_int8.tflite'}",
                                f"--port={port}"], env=TF_ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_healthy("127.0.0.1", port, process)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (Debian packages chromium and "
                    f"chromium-driver; .ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=900,1000",
                 "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_upload_in_chromium_shows_each_verdict(server, browser, tiny_export, tiny_test_images,
                                               tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    fake = sorted((tiny_test_images / "Fake").iterdir())[0]
    real = sorted((tiny_test_images / "Real").iterdir())[0]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(jpeg_bytes(40, 40)[:200])
    detector = Detector(str(tiny_export / "model_int8.tflite"))
    expected = {p.name: detector.classify_bytes(p.read_bytes()) for p in (fake, real)}

    browser.get(server)
    assert "dfdnet" in browser.find_element(By.ID, "model").text
    browser.find_element(By.ID, "file").send_keys("\n".join(map(str, (fake, real, broken))))
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(
        By.CSS_SELECTOR, "#results .result.fake, #results .result.real, "
                         "#results .result.failed")) == 3)
    cards = {card.find_element(By.CLASS_NAME, "name").text: card
             for card in browser.find_elements(By.CSS_SELECTOR, "#results .result")}
    for name, answer in expected.items():
        card = cards[name]
        assert card.find_element(By.CLASS_NAME, "verdict").text.lower() == answer.verdict
        assert float(card.get_attribute("data-p-fake")) == pytest.approx(answer.p_fake)
        assert card.find_element(By.CLASS_NAME, "thumb").get_attribute("src").startswith("blob:")
        # The bar is what a user reads at a glance: its fill must be p_fake of its length.
        track = card.find_element(By.CLASS_NAME, "bar").size["width"]
        fill = card.find_element(By.CSS_SELECTOR, ".bar div").size["width"]
        assert track > 50 and fill / track == pytest.approx(answer.p_fake, abs=2 / track)
        assert "ms" in card.find_element(By.CLASS_NAME, "detail").text
    failed = cards["broken.jpg"]
    assert failed.find_element(By.CLASS_NAME, "verdict").text == "Error"
    assert "truncated" in failed.find_element(By.CLASS_NAME, "detail").text
    WebDriverWait(browser, 5).until(ready.presence_of_element_located((By.ID, "results")))
    browser.save_screenshot(str(tmp_path / "page.png"))
    shutil.copy(tmp_path / "page.png", os.environ.get("DFD_SCREENSHOT", tmp_path / "last.png"))
