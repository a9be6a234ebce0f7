"""SSD anchors laid out as MediaPipe's SsdAnchorsCalculator lays them for BlazeFace.

The detector predicts one box per anchor as an offset from that anchor, so the anchors must
be exactly the ones the model was trained with, in the same order: feature-map cells row by
row, and within a cell the anchors of every layer that shares the cell's stride. The
settings come from the bundle's model.json (`dfd.lite.faces.settings` wrote them there from
MediaPipe's face-detection graphs), never from constants here.
"""

from __future__ import annotations

import math

import numpy as np


def _scale(min_scale: float, max_scale: float, index: int, num_layers: int) -> float:
    if num_layers == 1:
        return (min_scale + max_scale) / 2.0
    return min_scale + (max_scale - min_scale) * index / (num_layers - 1.0)


def _layer_shapes(options: dict, first: int, last: int) -> list[tuple[float, float]]:
    """(aspect ratio, scale) of each anchor in a cell, for layers first..last-1 (one stride)."""
    shapes = []
    layers = options["num_layers"]
    for layer in range(first, last):
        scale = _scale(options["min_scale"], options["max_scale"], layer, layers)
        for ratio in options["aspect_ratios"]:
            shapes.append((float(ratio), scale))
        interpolated = options.get("interpolated_scale_aspect_ratio", 1.0)
        if interpolated > 0.0:
            following = 1.0 if layer == layers - 1 else _scale(
                options["min_scale"], options["max_scale"], layer + 1, layers)
            shapes.append((float(interpolated), math.sqrt(scale * following)))
    return shapes


def ssd_anchors(options: dict) -> np.ndarray:
    """(N, 4) float32 anchors as (x_center, y_center, width, height), normalised to [0, 1].

    options: num_layers, strides, min_scale, max_scale, anchor_offset_x, anchor_offset_y,
    aspect_ratios, interpolated_scale_aspect_ratio, fixed_anchor_size, input_size [w, h].
    """
    width, height = options["input_size"]
    strides = list(options["strides"])
    if len(strides) != options["num_layers"]:
        raise ValueError(f"{len(strides)} strides for {options['num_layers']} layers")
    anchors = []
    layer = 0
    while layer < len(strides):
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            last += 1
        shapes = _layer_shapes(options, layer, last)
        rows = math.ceil(height / strides[layer])
        cols = math.ceil(width / strides[layer])
        for y in range(rows):
            for x in range(cols):
                cx = (x + options["anchor_offset_x"]) / cols
                cy = (y + options["anchor_offset_y"]) / rows
                for ratio, scale in shapes:
                    if options.get("fixed_anchor_size", False):
                        anchors.append((cx, cy, 1.0, 1.0))
                    else:
                        root = math.sqrt(ratio)
                        anchors.append((cx, cy, scale / root, scale * root))
        layer = last
    return np.asarray(anchors, dtype=np.float32)
