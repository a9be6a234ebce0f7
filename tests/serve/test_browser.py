"""The page in a real browser: headless Chromium uploads images and reads the verdicts.

Uses Debian's `chromium` and `chromium-driver` (.ci/run installs them); nothing is
downloaded. The server is the real one (`python -m dfd.serve`, waitress) on loopback.
"""

import contextlib
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import TF_ENV, jpeg_bytes
from support.server import free_port, wait_healthy
from dfd.lite.detector import Detector

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@contextlib.contextmanager
def serving(model):
    """The real server (`python -m dfd.serve`) on `model`, on a free loopback port: its URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "dfd.serve", f"--model={model}",
                                f"--port={port}"], env=TF_ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_healthy("127.0.0.1", port, process)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tiny_export):
    with serving(tiny_export / "model_int8.tflite") as url:
        yield url


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
    detector = Detector(str(tiny_export / "model_int8.tflite"), faces="auto")  # as served
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


@pytest.fixture(scope="module")
def patch_server(patch_models):
    """The real server on the int8 model whose P(fake) comes from one known patch only."""
    with serving(patch_models / "patch_int8.tflite") as url:
        yield url


def test_explain_toggle_lays_the_heat_map_over_the_thumbnail(patch_server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from conftest import encode, patch_image

    before = tmp_path / "before.png"
    before.write_bytes(encode(patch_image(5), "PNG"))
    photo = np.full((64, 40, 3), 60, np.uint8)  # a taller photo: the crop is its middle
    photo[12:52] = np.asarray(Image.fromarray(patch_image(6)).resize((40, 40), Image.NEAREST))
    after = tmp_path / "after.png"
    after.write_bytes(encode(photo, "PNG"))

    browser.get(patch_server)
    toggle = browser.find_element(By.ID, "explain")
    assert toggle.is_displayed() and not toggle.is_selected()
    browser.find_element(By.ID, "file").send_keys(str(before))
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(
        By.CSS_SELECTOR, "#results .result.fake"))
    first = browser.find_element(By.CSS_SELECTOR, "#results .result")
    assert not first.find_elements(By.CLASS_NAME, "heat")
    assert first.get_attribute("data-explained") is None, "nothing explained while off"

    toggle.click()  # on: the image already judged is explained now
    WebDriverWait(browser, 30).until(lambda d: any(
        heat.is_displayed() for heat in first.find_elements(By.CLASS_NAME, "heat")))
    assert len(first.find_elements(By.CLASS_NAME, "heat")) == 1, "one judged crop, one map"
    heat = first.find_element(By.CLASS_NAME, "heat")
    thumb = first.find_element(By.CLASS_NAME, "thumb")
    assert heat.get_attribute("src").startswith("data:image/png;base64,")
    assert first.get_attribute("data-hottest") in ("2,4", "2,5", "3,4", "3,5")
    assert heat.rect == thumb.rect, "a square photo's crop is the whole square thumbnail"

    browser.find_element(By.ID, "file").send_keys(str(after))  # on: explained as it is judged
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(
        By.CSS_SELECTOR, "#results .result[data-explained='yes']")) == 2)
    newest = browser.find_element(By.CSS_SELECTOR, "#results .result")
    assert newest.find_element(By.CLASS_NAME, "name").text == "after.png"
    assert newest.find_element(By.CLASS_NAME, "heat").is_displayed()
    assert newest.get_attribute("data-hottest") in ("2,4", "2,5", "3,4", "3,5")
    shown, thumb = (newest.find_element(By.CLASS_NAME, name).rect for name in ("heat", "thumb"))
    scale = thumb["width"] / 40  # the whole photo is shown; the judged crop is rows 12-52
    assert shown["x"] == pytest.approx(thumb["x"], abs=1)
    assert shown["width"] == pytest.approx(thumb["width"], abs=1)
    assert shown["y"] == pytest.approx(thumb["y"] + 12 * scale, abs=1)
    assert shown["height"] == pytest.approx(40 * scale, abs=1), "the judged middle is covered"

    browser.save_screenshot(str(tmp_path / "explain.png"))
    toggle.click()  # off: every heat map hidden, the verdicts stay
    for card in browser.find_elements(By.CSS_SELECTOR, "#results .result"):
        assert not card.find_element(By.CLASS_NAME, "heat").is_displayed()
        assert card.find_element(By.CLASS_NAME, "verdict").text == "Fake"


@pytest.mark.integration
def test_face_boxes_are_drawn_on_the_thumbnail_coloured_by_verdict(server, browser,
                                                                   tiny_export, shared_set,
                                                                   tmp_path):
    """A photo composed from shared-set faces: one box per judged face, placed where the API
    says, with the face's verdict and P(fake) readable from the DOM."""
    import numpy as np
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from support import face_photos

    crops = [Image.open(sorted((shared_set(name) / "Test" / "Real").iterdir())[0])
             .convert("RGB") for name in face_photos.SETS]
    photo, truths = face_photos.compose(np.random.default_rng(3), crops, 1200, 900, [220, 300])
    path = tmp_path / "two_people.jpg"
    photo.save(path, quality=92)
    answer = Detector(str(tiny_export / "model_int8.tflite"), faces="auto").classify_bytes(
        path.read_bytes())
    assert answer.judged == "faces" and len(answer.faces) == len(truths)

    browser.get(server)
    browser.find_element(By.ID, "file").send_keys(str(path))
    WebDriverWait(browser, 60).until(lambda d: len(d.find_elements(
        By.CSS_SELECTOR, "#results .result .thumbbox .face")) == len(truths))
    card = browser.find_element(By.CSS_SELECTOR, "#results .result")
    assert card.get_attribute("data-judged") == "faces"
    thumb = card.find_element(By.CLASS_NAME, "thumb").rect
    boxes = card.find_elements(By.CSS_SELECTOR, ".thumbbox .face")
    for box, face in zip(boxes, answer.faces):
        assert box.get_attribute("data-verdict") == face["verdict"]
        assert float(box.get_attribute("data-p-fake")) == pytest.approx(face["p_fake"])
        assert face["verdict"] in box.get_attribute("class").split()
        colour = box.value_of_css_property("border-top-color")
        assert colour == ("rgba(209, 59, 59, 1)" if face["verdict"] == "fake"
                          else "rgba(42, 157, 92, 1)")
        rect = box.rect  # where the API's box falls on the shown thumbnail, within 2 px
        x0, y0, x1, y1 = face["box"]
        scale = thumb["width"] / photo.width
        assert rect["x"] == pytest.approx(thumb["x"] + x0 * scale, abs=2)
        assert rect["y"] == pytest.approx(thumb["y"] + y0 * scale, abs=2)
        assert rect["width"] == pytest.approx((x1 - x0) * scale, abs=2)
    browser.save_screenshot(str(tmp_path / "faces.png"))
