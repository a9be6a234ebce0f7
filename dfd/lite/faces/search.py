"""Where to look for faces in a photo of any size: the whole photo, then overlapping tiles.

BlazeFace full-range sees a letterboxed 192x192 copy of what it is given, so in a
12-megapixel group photo a 100-pixel face shrinks to 5 pixels and vanishes. It finds a face
reliably when the face's square crop spans between `MIN_FRACTION` and `MAX_FRACTION` of the
window (measured, BUILD_NOTES.md "Faces"), so the search is a pyramid: the whole photo,
then smaller windows level by level (at most half as wide as the level above, so the size
ranges meet), overlapping by the largest face the level is responsible for, down to windows
`min_face / MIN_FRACTION` wide. Each level keeps only
faces in its own size range that its window shows whole; weighted suppression then merges
what several windows saw.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from dfd.imaging.gate import TooLargeError
from dfd.lite.faces.decode import Detections

MIN_FRACTION = 0.12
"""Smallest face crop, as a fraction of the window side, searched at a level. A single face
centred on a plain window was found down to 0.10, but in composed photos 64 to 90 px faces
at 0.10 to 0.14 of the finest windows were missed, and all were found at 0.12
(BUILD_NOTES.md "Faces")."""
MAX_FRACTION = 0.8
"""Largest face crop, as a fraction of the window side, found in every trial."""

MAX_WINDOWS = 1536
"""Most windows one photo's search may take, counted before any is made: each is one
detector run and the count grows as 1 / min_face^2, so a min_face of 1e-300 once built an
unbounded list (issue 25). The largest photo the gate accepts (40 MP, any aspect ratio up to
20) needs at most about 690 at the smallest --min_face the options allow (48 px,
`dfd.lite.options.MIN_FACE_LOW`) and about 1,370 at 32 px; a library caller asking for more
gets `TooManyWindows`."""


class TooManyWindows(TooLargeError):
    """The search this photo and min_face ask for would exceed MAX_WINDOWS: that photo's
    own error (an ImageError), never a traceback."""


@dataclasses.dataclass(frozen=True)
class Window:
    left: float
    top: float
    side: float
    level: int


def _start_count(length: float, side: float, stride: float) -> int:
    return 1 if length <= side else math.ceil((length - side) / stride) + 1


def _starts(length: float, side: float, stride: float) -> list[float]:
    """Window starts covering [0, length), the last one flush with the far edge."""
    if length <= side:
        return [(length - side) / 2.0]
    count = _start_count(length, side, stride)
    step = (length - side) / (count - 1)
    return [i * step for i in range(count)]


def _levels(width: int, height: int, min_face: float) -> list[tuple[float, float]]:
    """(side, stride) of each level below the whole photo."""
    if not (math.isfinite(min_face) and min_face > 0):
        raise ValueError(f"min_face must be a positive finite number of pixels, not {min_face}")
    whole = float(max(width, height))
    smallest = min_face / MIN_FRACTION
    if whole <= smallest:
        return []
    levels = math.ceil(math.log2(whole / smallest))
    ratio = (whole / smallest) ** (1.0 / levels)
    out, parent = [], whole
    for level in range(1, levels + 1):
        side = whole / ratio ** level
        out.append((side, side - MIN_FRACTION * parent))  # overlap: the largest face here
        parent = side
    return out


def window_count(width: int, height: int, min_face: float) -> int:
    """How many windows `windows` makes, without making them."""
    return 1 + sum(_start_count(width, side, stride) * _start_count(height, side, stride)
                   for side, stride in _levels(width, height, min_face))


def windows(width: int, height: int, min_face: float) -> list[Window]:
    """Level 0 is the letterboxed photo; the last level's windows are just small enough for
    a `min_face` crop to span MIN_FRACTION of them, the levels between evenly spaced in scale.
    Raises TooManyWindows, before making any, past MAX_WINDOWS."""
    count = window_count(width, height, min_face)
    if count > MAX_WINDOWS:
        raise TooManyWindows(f"a face search down to {min_face:g} px in this {width}x{height} "
                             f"photo needs more than the {MAX_WINDOWS} windows allowed: "
                             f"search for larger faces")
    whole = float(max(width, height))
    out = [Window((width - whole) / 2.0, (height - whole) / 2.0, whole, 0)]
    for level, (side, stride) in enumerate(_levels(width, height, min_face), 1):
        out.extend(Window(x, y, side, level) for y in _starts(height, side, stride)
                   for x in _starts(width, side, stride))
    return out


def keep_in_window(found: Detections, window: Window, width: int, height: int) -> Detections:
    """The detections this window is responsible for: not cut by a window edge inside the
    photo, and not larger than the window shows reliably (a coarser level found those)."""
    if not len(found):
        return found
    boxes = found.boxes
    slack = 0.02 * window.side
    inner_left = window.left > 0
    inner_top = window.top > 0
    inner_right = window.left + window.side < width
    inner_bottom = window.top + window.side < height
    cut = np.zeros(len(boxes), bool)
    if inner_left:
        cut |= boxes[:, 0] < window.left + slack
    if inner_top:
        cut |= boxes[:, 1] < window.top + slack
    if inner_right:
        cut |= boxes[:, 2] > window.left + window.side - slack
    if inner_bottom:
        cut |= boxes[:, 3] > window.top + window.side - slack
    size = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    too_big = (window.level > 0) & (size > MAX_FRACTION * window.side)
    return found.take(np.flatnonzero(~cut & ~too_big))
