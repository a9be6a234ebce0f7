"""The one word dfd says about an image, the same on every surface (CLI, page, API, Beam).

A calibrated P(fake) (`dfd.common.calibration`) against a threshold gives fake or real;
inside the uncertain band (LOW < P(fake) < HIGH) the answer is "uncertain" whatever the
threshold, because there the model is wrong too often for either word to be acted on.
A photo with several faces is fake if any face is fake, else uncertain if any face is
uncertain, else real: one forged face makes a forged photo, and a doubtful face is not
hidden behind a confident real one. Numpy-free and TensorFlow-free: the device imports it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable

from dfd.common import spec

REAL, FAKE = spec.LABELS[0], spec.LABELS[spec.FAKE_LABEL]
UNCERTAIN = "uncertain"
NO_FACE = "no face"
"""The verdict of a photo judged with faces on in which no face was found."""

OUT_OF_DOMAIN = ("no face was found, so the whole image was judged: it is out of the "
                 "model's domain (face crops), and its P(fake) says little")
"""The note on an answer whose faces were searched for and not found (faces auto)."""

BAND_OFF = ("off", "none")
"""What --uncertain says to turn the band off (two-way verdicts, as before the band)."""


@dataclasses.dataclass(frozen=True)
class Band:
    """The uncertain band: LOW < P(fake) < HIGH (open, so 0 and 1 are never uncertain)."""
    low: float
    high: float

    def __post_init__(self):
        if not (0.0 <= self.low <= self.high <= 1.0):
            raise ValueError(f"the uncertain band needs 0 <= LOW <= HIGH <= 1, got "
                             f"{self.low},{self.high}")

    def holds(self, p: float) -> bool:
        return self.low < p < self.high

    def as_list(self) -> list[float]:
        return [self.low, self.high]


def parse_band(text: str) -> Band | None:
    """--uncertain's value: "LOW,HIGH", or off/none for no band; ValueError saying what is
    wrong (the caller names the flag)."""
    if text.strip().lower() in BAND_OFF:
        return None
    what = (f"must be LOW,HIGH (two numbers from 0 to 1, LOW <= HIGH) or off, not "
            f"{text[:40]!r}")
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(what) from None
    if not (math.isfinite(low) and math.isfinite(high) and 0.0 <= low <= high <= 1.0):
        raise ValueError(what)
    return Band(low, high)


def band_of(entry: dict | None) -> Band | None:
    """An artifact's "uncertain" entry of model.json as a Band (None when absent); the
    entry was checked by `dfd.common.card`."""
    if not entry:
        return None
    return Band(float(entry["low"]), float(entry["high"]))


def verdict(p_fake: float, threshold: float, band: Band | None = None) -> str:
    """fake, real or uncertain for one calibrated P(fake)."""
    if band is not None and band.holds(p_fake):
        return UNCERTAIN
    return FAKE if p_fake >= threshold else REAL


def photo_verdict(face_verdicts: Iterable[str]) -> str:
    """A photo's verdict from its faces' (see the module docstring); no face: NO_FACE."""
    found = set(face_verdicts)
    for word in (FAKE, UNCERTAIN, REAL):
        if word in found:
            return word
    return NO_FACE


def shares(verdicts: list[str], band: bool = True) -> str:
    """"3 fake 18.8%, 1 uncertain 6.2%, 12 real" for a summary line; no face counted
    when any; uncertain shown whenever a band is in use."""
    total = len(verdicts)

    def part(word, label=None):
        count = sum(v == word for v in verdicts)
        share = f" {100.0 * count / total:.1f}%" if total else ""
        return f"{count} {label or word}{share}"

    words = [part(FAKE)] + ([part(UNCERTAIN)] if band else [])
    words.append(f"{sum(v == REAL for v in verdicts)} {REAL}")
    faceless = sum(v == NO_FACE for v in verdicts)
    if faceless:
        words.append(f"{faceless} with no face")
    return ", ".join(words)
