"""The photo the face search reads: reduced to the resolution its finest windows use.

Every window is resampled down to the detector's input (192 px full range), and the finest
windows are `min_face / MIN_FRACTION` (533 px at the default 64) wide, so the search never
uses more than about a third of a large photo's resolution. Searching a copy reduced by an
integer factor gives the windows the same or more pixels than they keep, costs a fraction
of the photo's memory, and each window's resize reads fewer pixels.

The copy is made strip by strip from the decoded image in whatever mode it decoded to, so
a 40 MP 16-bit grayscale or palette PNG is never converted to RGB whole: converting one
took 438 MB over the process's idle memory in `dfd-lite classify --faces=auto`, against the
CLI's 300 MB budget for the worst allowed image (BUILD_NOTES.md, "Faces on the largest
images").
"""

from __future__ import annotations

from PIL import Image

from dfd.imaging.gate import to_rgb

STRIP_BLOCKS = 64
"""Rows of the reduced copy made per strip: a strip of the source is factor x 64 rows."""


def reduction_factor(width: int, height: int, finest_window: float, input_size: int) -> int:
    """The largest integer factor that still gives every window at least `input_size`
    pixels across: the finest window (or the whole photo, if smaller) over the input."""
    finest = min(float(max(width, height)), finest_window)
    return max(1, int(finest // input_size))


def reduced_rgb(image: Image.Image, factor: int) -> Image.Image:
    """`image` averaged over factor x factor blocks (`Image.reduce`), in RGB; the same
    pixels as reducing the whole RGB image at once, without ever holding it. At factor 1
    (a library caller's min_face below ~46 px; the CLI and server allow 48 and up) the copy
    is the photo in RGB, still converted strip by strip: converting a 40 MP 16-bit PNG at
    once peaked at 427 MB over idle (issue 25)."""
    if image.mode == "RGB" and factor == 1:
        return image
    width, height = image.size
    out = Image.new("RGB", (-(-width // factor), -(-height // factor)))
    rows = factor * STRIP_BLOCKS
    for top in range(0, height, rows):
        strip = to_rgb(image.crop((0, top, width, min(top + rows, height))))
        out.paste(strip.reduce(factor) if factor > 1 else strip, (0, top // factor))
    return out
