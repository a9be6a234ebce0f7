"""The robustness suite: what each degradation does to a source, and that reports repeat."""

import numpy as np
import pytest
from PIL import Image

from conftest import textured_rgb
from dfd.evaluate import robustness
from dfd.common import preprocess


@pytest.fixture(scope="module")
def source():
    return Image.fromarray(textured_rgb(96, 80, seed=5))


def test_the_full_suite_is_the_issue_list():
    assert list(robustness.SUITES["full"]) == [
        "none", "jpeg90", "jpeg70", "jpeg50", "jpeg30", "downscale_1/2", "downscale_1/4",
        "upscale_4x_lanczos", "gaussian_blur_1", "crop_80_off_centre", "brightness_contrast",
        "social_media_1/2_jpeg70"]
    assert set(robustness.SUITES["fast"]) < set(robustness.SUITES["full"])


@pytest.mark.parametrize("name,shape", [
    ("none", (96, 80, 3)), ("jpeg50", (96, 80, 3)), ("downscale_1/2", (48, 40, 3)),
    ("downscale_1/4", (24, 20, 3)), ("upscale_4x_lanczos", (384, 320, 3)),
    ("crop_80_off_centre", (77, 64, 3)), ("social_media_1/2_jpeg70", (48, 40, 3))])
def test_degradations_change_the_source_as_named(source, name, shape):
    out = robustness.degrade(source, name, index=0)
    assert out.shape == shape and out.dtype == np.uint8
    if name == "none":
        np.testing.assert_array_equal(out, np.asarray(source))


@pytest.mark.parametrize("name", ["jpeg30", "gaussian_blur_1", "brightness_contrast"])
def test_pixel_degradations_change_pixels(source, name):
    out = robustness.degrade(source, name, index=0).astype(int)
    assert np.abs(out - np.asarray(source, int)).mean() > 1.0


def test_random_degradations_repeat_per_image_and_differ_between_images(source):
    for name in ("crop_80_off_centre", "brightness_contrast"):
        first = robustness.degrade(source, name, index=3)
        np.testing.assert_array_equal(first, robustness.degrade(source, name, index=3))
        others = [robustness.degrade(source, name, index=i) for i in range(4, 12)]
        assert any(o.shape != first.shape or np.any(o != first) for o in others), name


def fake_is_bright(batch):
    """A 'model' that calls an image fake by its mean brightness: enough to rank."""
    return batch.reshape(len(batch), -1).mean(axis=1) / 255.0


def test_report_has_auc_accuracy_mean_and_worst_and_repeats():
    rng = np.random.default_rng(0)
    sources = [(Image.fromarray(np.full((40, 40, 3), 60 + 120 * label + int(rng.integers(0, 40)),
                                        np.uint8)), label) for label in [0, 1] * 6]
    names = robustness.SUITES["full"]
    run = lambda: robustness.score_suite(iter(sources), names,
                                         lambda rgb: preprocess.preprocess(rgb, 16),
                                         fake_is_bright, threshold=0.5, batch_size=5)
    report = run()
    assert report["examples"] == 12 and list(report["degradations"]) == list(names)
    aucs = [row["auc"] for row in report["degradations"].values()]
    assert report["degradations"]["none"] == {"auc": 1.0, "accuracy": 1.0}
    assert report["mean_auc"] == pytest.approx(np.mean(aucs))
    assert report["worst_auc"] == min(aucs)
    assert report["degradations"][report["worst"]]["auc"] == min(aucs)
    assert run() == report


def test_several_scorers_share_one_pass_and_each_gets_its_own_report():
    """An export judges float32 and int8 together: each degraded image is made once."""
    sources = [(Image.fromarray(np.full((40, 40, 3), 60 + 120 * label, np.uint8)), label)
               for label in [0, 1] * 4]
    reads = []

    def counted():
        for item in sources:
            reads.append(1)
            yield item

    names, contract = ["none", "jpeg50"], (lambda rgb: preprocess.preprocess(rgb, 16))
    inverted = lambda batch: 1.0 - fake_is_bright(batch)
    reports = robustness.score_suites(counted(), names, contract,
                                      {"right": fake_is_bright, "inverted": inverted},
                                      {"right": 0.5, "inverted": 0.5}, batch_size=3)
    assert len(reads) == len(sources)
    assert reports["right"] == robustness.score_suite(iter(sources), names, contract,
                                                      fake_is_bright, batch_size=3)
    assert reports["inverted"]["degradations"]["none"] == {"auc": 0.0, "accuracy": 0.0}


def test_unknown_degradation_is_refused_by_name():
    with pytest.raises(ValueError, match="sepia"):
        robustness.score_suite(iter([]), ["sepia"], lambda x: x, fake_is_bright)
