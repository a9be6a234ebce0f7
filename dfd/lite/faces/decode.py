"""Raw BlazeFace tensors to scored boxes and keypoints, as MediaPipe's
TensorsToDetectionsCalculator decodes them (`reverse_output_order`: x before y).

Each anchor's 16 regressed values are the box centre and size followed by six (x, y)
keypoints (eyes, nose tip, mouth, ear tragions), all in input pixels relative to the anchor;
dividing by the x/y/w/h scales and multiplying by the anchor size makes them normalised
image coordinates. Scores are logits, clipped before the sigmoid so exp() cannot overflow.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Detections:
    boxes: np.ndarray
    """(N, 4) float32 (x0, y0, x1, y1), normalised to the detector input."""
    keypoints: np.ndarray
    """(N, K, 2) float32 (x, y), normalised the same way."""
    scores: np.ndarray
    """(N,) float32 in [0, 1]."""

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, index) -> "Detections":
        return Detections(self.boxes[index], self.keypoints[index], self.scores[index])

    @staticmethod
    def concatenate(parts: list["Detections"], keypoints: int) -> "Detections":
        if not parts:
            return Detections(np.zeros((0, 4), np.float32),
                              np.zeros((0, keypoints, 2), np.float32),
                              np.zeros((0,), np.float32))
        return Detections(np.concatenate([p.boxes for p in parts]),
                          np.concatenate([p.keypoints for p in parts]),
                          np.concatenate([p.scores for p in parts]))


def sigmoid_scores(logits: np.ndarray, clip: float) -> np.ndarray:
    clipped = np.clip(logits.astype(np.float64), -clip, clip)  # exp(100) overflows float32
    return (1.0 / (1.0 + np.exp(-clipped))).astype(np.float32)


def decode(regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray,
           options: dict) -> Detections:
    """The detections scoring at least options["min_score_thresh"].

    regressors: (N, 4 + 2K) raw values; logits: (N,) or (N, 1); anchors: (N, 4) from
    `ssd_anchors`. options: x_scale, y_scale, w_scale, h_scale, num_keypoints,
    score_clipping_thresh, min_score_thresh.
    """
    regressors = np.asarray(regressors, np.float32).reshape(len(anchors), -1)
    scores = sigmoid_scores(np.asarray(logits).reshape(-1), options["score_clipping_thresh"])
    keep = np.flatnonzero(scores >= options["min_score_thresh"])
    raw, anchor = regressors[keep], anchors[keep]
    ax, ay, aw, ah = (anchor[:, i:i + 1] for i in range(4))
    cx = raw[:, 0:1] / options["x_scale"] * aw + ax
    cy = raw[:, 1:2] / options["y_scale"] * ah + ay
    w = raw[:, 2:3] / options["w_scale"] * aw
    h = raw[:, 3:4] / options["h_scale"] * ah
    boxes = np.concatenate([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    count = options["num_keypoints"]
    points = raw[:, 4:4 + 2 * count].reshape(-1, count, 2)
    keypoints = np.stack([points[..., 0] / options["x_scale"] * aw + ax,
                          points[..., 1] / options["y_scale"] * ah + ay], axis=-1)
    return Detections(boxes.astype(np.float32), keypoints.astype(np.float32), scores[keep])
