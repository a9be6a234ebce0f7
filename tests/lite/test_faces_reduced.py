"""The face search reads a reduced copy of the photo, made without converting it whole."""

import numpy as np
import pytest
from PIL import Image

from dfd.imaging.gate import to_rgb
from dfd.lite.faces import reduced


def photo(mode: str, width: int = 301, height: int = 203) -> Image.Image:
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    image = Image.fromarray(rgba, "RGBA")
    if mode == "I;16":
        wide = rng.integers(0, 65536, (height, width), dtype="<u2")
        sixteen = Image.fromarray(wide)  # Pillow 13 takes the mode from the dtype only
        assert sixteen.mode == "I;16"
        return sixteen
    if mode == "P":
        palette = image.convert("RGB").convert("P")
        palette.info["transparency"] = 5
        return palette
    return image.convert(mode)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "I;16", "P"])
@pytest.mark.parametrize("factor", [1, 2, 3])
def test_strips_give_the_pixels_of_reducing_the_whole_rgb_image(mode, factor, monkeypatch):
    image = photo(mode)
    monkeypatch.setattr(reduced, "STRIP_BLOCKS", 7)  # several strips, the last one partial
    expected = to_rgb(image) if factor == 1 else to_rgb(image).reduce(factor)
    got = reduced.reduced_rgb(image, factor)
    assert got.mode == "RGB" and got.size == expected.size
    assert np.array_equal(np.asarray(got), np.asarray(expected))


@pytest.mark.parametrize("factor", [3, 1])
def test_no_strip_converted_is_more_than_its_share_of_the_photo(factor, monkeypatch):
    """Factor 1 (a --min_face below ~46 px) converts strip by strip too (issue 25, case 8:
    converting a 40 MP 16-bit PNG whole peaked at 427 MB over idle)."""
    converted = []

    def recording(image):
        converted.append(image.size)
        return to_rgb(image)
    monkeypatch.setattr(reduced, "to_rgb", recording)
    reduced.reduced_rgb(photo("I;16", 900, 1200), factor)
    assert max(w * h for w, h in converted) == 900 * factor * reduced.STRIP_BLOCKS


@pytest.mark.parametrize("width,height,finest,size,factor", [
    (6324, 6324, 533.3, 192, 2),   # 40 MP: windows down to 533 px, read at 192
    (1000, 800, 533.3, 192, 2),
    (400, 300, 533.3, 192, 2),     # the whole photo is the only window: 400 px over 192
    (256, 256, 533.3, 192, 1),
    (4000, 3000, 1066.7, 128, 8),  # min_face 128 with the 128 px short-range model
])
def test_the_factor_keeps_every_window_at_least_the_detectors_input(width, height, finest,
                                                                    size, factor):
    assert reduced.reduction_factor(width, height, finest, size) == factor
    assert min(max(width, height), finest) / factor >= size
