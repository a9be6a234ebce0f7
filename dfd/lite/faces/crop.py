"""From a detected face box to the square the classifier judges, framed as training framed it.

The classifier learned from the Kaggle crops' centred squares, which show more than the
face box BlazeFace draws (forehead, hair, chin) and sit higher than the box. The export
records in model.json how much more and how much higher (`crop` below, measured on the
training splits of both shared sets, BUILD_NOTES.md "Faces"), so a face found in a photo
is shown to the classifier the way the classifier saw faces.
"""

from __future__ import annotations

CROP = {"side_over_box": 1.618, "center_offset": [0.001, -0.168]}
"""Crop side over the detected box's mean side, and the crop centre's offset from the box
centre in box sides (x, y; negative y is up): the pooled medians of `python -m
benchmarks.faces margin` over both shared sets' training splits."""


def crop_square(box, width: int, height: int, crop: dict) -> tuple[int, int, int]:
    """(top, left, side) in whole pixels: the training framing of `box` (x0, y0, x1, y1),
    moved inside the photo when it would cross an edge, smaller only when the photo is."""
    x0, y0, x1, y1 = (float(v) for v in box)
    box_side = ((x1 - x0) + (y1 - y0)) / 2.0
    side = max(1, min(int(round(box_side * crop["side_over_box"])), width, height))
    dx, dy = crop["center_offset"]
    cx = (x0 + x1) / 2.0 + dx * box_side
    cy = (y0 + y1) / 2.0 + dy * box_side
    left = min(max(int(round(cx - side / 2.0)), 0), width - side)
    top = min(max(int(round(cy - side / 2.0)), 0), height - side)
    return top, left, side
