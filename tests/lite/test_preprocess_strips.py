"""The runtime reads a Pillow image's pixels in bounded strips (dfd.common.preprocess.gather):
whatever the strip size and the image's mode, the model gets exactly the pixels a full RGB
array would give, and no strip is larger than the budget."""

import numpy as np
import pytest
from PIL import Image

from conftest import textured_rgb
from dfd.common import preprocess
from dfd.imaging.gate import to_rgb


def image_in_mode(mode: str, height: int = 300, width: int = 420) -> Image.Image:
    rgb = Image.fromarray(textured_rgb(height, width, seed=3))
    if mode == "I;16":
        wide = (np.asarray(rgb.convert("L"), np.uint16) * 257).astype("<u2")
        return Image.fromarray(wide)
    if mode == "P":
        return rgb.quantize(64)
    return rgb.convert(mode)


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "CMYK", "RGBA", "LA", "I;16"])
@pytest.mark.parametrize("budget", [1, 3 * 50 * 7, preprocess.GATHER_BYTES])
def test_strips_of_any_size_give_the_pixels_of_a_whole_rgb_array(mode, budget, monkeypatch):
    monkeypatch.setattr(preprocess, "GATHER_BYTES", budget)
    image = image_in_mode(mode)
    whole = np.asarray(to_rgb(image), np.uint8)
    for box, size in [((10, 37, 250), 128), ((0, 0, 300), 64), ((120, 300, 120), 224)]:
        np.testing.assert_array_equal(preprocess.resize_bilinear(image, box, size),
                                      preprocess.resize_bilinear(whole, box, size))


def test_no_strip_read_exceeds_the_budget(monkeypatch):
    budget = 3 * 64 * 10
    monkeypatch.setattr(preprocess, "GATHER_BYTES", budget)
    image = image_in_mode("RGB", 500, 500)
    read = []
    crop = Image.Image.crop

    def counting_crop(self, box=None):
        read.append((box[2] - box[0]) * (box[3] - box[1]) * 3)
        return crop(self, box)

    monkeypatch.setattr(Image.Image, "crop", counting_crop)
    rows = np.arange(100, 400, 3)
    cols = np.arange(200, 264)
    got = preprocess.gather(image, rows, cols)
    np.testing.assert_array_equal(got, np.asarray(image)[np.ix_(rows, cols)])
    assert read and max(read) <= budget
    assert len(read) < len(rows)  # strips, not one read per sampled row
