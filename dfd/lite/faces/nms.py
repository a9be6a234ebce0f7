"""Weighted non-maximum suppression, MediaPipe's WEIGHTED algorithm for BlazeFace.

Plain NMS keeps the single best box of a cluster, so the box jitters between neighbouring
anchors; BlazeFace instead averages every box of the cluster weighted by its score, which
is steadier and better centred. The best box leads the cluster and keeps its score; boxes
overlapping it by more than the threshold (intersection over union) join it and are
consumed.
"""

from __future__ import annotations

import numpy as np

from dfd.lite.faces.decode import Detections


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one (x0, y0, x1, y1) box with each of (N, 4) boxes."""
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(detections: Detections, threshold: float) -> Detections:
    """One detection per cluster, best first: score-weighted mean box and keypoints."""
    order = np.argsort(-detections.scores, kind="stable")
    boxes, points, scores = (detections.boxes[order], detections.keypoints[order],
                             detections.scores[order])
    remaining = np.arange(len(scores))
    out_boxes, out_points, out_scores = [], [], []
    while len(remaining):
        lead = remaining[0]
        overlap = iou(boxes[lead], boxes[remaining])
        cluster = remaining[overlap > threshold]
        cluster = cluster if len(cluster) else remaining[:1]
        weights = scores[cluster][:, None]
        total = weights.sum()
        out_boxes.append((boxes[cluster] * weights).sum(axis=0) / total)
        out_points.append((points[cluster] * weights[:, :, None]).sum(axis=0) / total)
        out_scores.append(scores[lead])
        remaining = remaining[overlap <= threshold]
        if lead in remaining:  # a degenerate box overlaps nothing, itself included
            remaining = remaining[remaining != lead]
    if not out_scores:
        return detections.take(np.zeros(0, dtype=np.int64))
    return Detections(np.asarray(out_boxes, np.float32), np.asarray(out_points, np.float32),
                      np.asarray(out_scores, np.float32))
