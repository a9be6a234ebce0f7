"""Where a judged crop looks fake: an occlusion-sensitivity heat map.

Each cell of a grid over the crop the classifier judged is greyed out in turn and the crop
is scored again; a cell whose greying lowers P(fake) held evidence of fakery, and the map
is coloured by how much P(fake) drops (measured in log-odds, see MIN_SCALE). Only forward
passes of the model the device already runs are needed, no gradients (an int8 .tflite has
none to give), so the map explains the very answer the device gave, its kernels and
quantization included, on a Pi as on x86.

The crop is the model's own (S, S, 3) uint8 input, whatever it was cut from: the whole
image's centred square today, each face's crop once faces are judged (`Explainer.explain`
takes the pixels and where they came from). The masked copies go through the Detector's
one interpreter (`Detector.p_fake_batch`). Numpy and Pillow only, like the rest of
`dfd.lite`.
"""

from __future__ import annotations

import dataclasses
import io
import time

import numpy as np
from PIL import Image

from dfd.common import spec, verdicts
from dfd.lite import imageio, options
from dfd.common import preprocess
from dfd.lite.detector import Verdict

GRID = options.EXPLAIN_GRID.default
"""Cells per side of the grid laid over the model's S x S input.

The grid lives on the model input, not on the photo: after the contract's centre crop and
resize (`dfd.common.spec`) every cell is the same share of what the model saw, whatever the
photo's size. At the contract's default 128 px a cell is 16 px, about an eye or a mouth in
a training-style face crop, so the map can say which feature carries the score. Finer
grids cost quadratically (S=128: 64 copies at 8, 256 at 16) and each cell then removes
so little that the change drowns in the int8 output's step of 1/256; coarser ones can only
say "upper left". Cells tile S exactly: edges at (i * S) // grid, so when S is not a
multiple of the grid, cells differ by one pixel and no pixel is left out or masked twice.
"""

GREY = int(np.round(np.mean(spec.VALUE_RANGE)))
"""The occluding value: the middle of the contract's pixel range (0..255), 127.5 rounded as
the contract rounds (ties to even), so 128.

A flat cell carries none of the high-frequency residue the detector looks for, and
mid-grey is neither a dark nor a bright cue: dfdnet and EfficientNet-Lite0 map their input
to [-1, 1] in their first layer, where 128 is 0.004. The int8 files take uint8 pixels
with scale 1 and zero point 0 (`dfd.export.tflite.pinned_input_range`), so 128 reaches
them exactly.
The cell's border with the image is still an edge a high-pass filter sees; occlusion maps
share that artefact, and a coarse grid keeps it small against the cell's own area.
"""

MIN_SCALE = 0.5
"""Colour scale floor, in log-odds of P(fake) (0.5: the odds fall by a factor of 1.65).

Cells are ranked by how much greying them lowers P(fake), but painted by how much it lowers
the log-odds: a detector trained to saturation answers 0.9996 for a clear fake, and greying
its most telling cell moves that to 0.994, a drop of 0.005 in P(fake) that would barely
tint a probability scale while it is 1.8 in log-odds, the scale the model's own last layer
adds evidence on (logit is monotone, so the ranking is the same). Colours are relative to
the largest such drop, so the hottest cell is full red; when no cell lowers the log-odds by
even MIN_SCALE nothing in the crop matters much and the map stays pale instead of
magnifying noise. The answer carries the drops in P(fake) too."""

MAX_ALPHA = 0.7
"""Opacity of a full-scale cell: the crop underneath stays visible."""

MIN_PNG_SIDE = 256
"""The CLI's PNG is the crop scaled up by a whole factor to at least this many pixels, so
a 32 px or 128 px crop is still readable in an image viewer."""


def cell_edges(size: int, grid: int) -> np.ndarray:
    """grid + 1 pixel boundaries splitting `size` into `grid` cells (see GRID)."""
    return (np.arange(grid + 1) * size) // grid


MASK_BATCH = 64
"""Masked copies made and scored at once: explain's memory is this many crops whatever the
grid (at --explain_grid=128 all 16,384 copies of one face once took 1.65 GB, issue 25)."""


def masked_copies(pixels: np.ndarray, grid: int = GRID, grey: int = GREY, start: int = 0,
                  stop: int | None = None) -> np.ndarray:
    """(stop - start, S, S, 3) copies of the crop: copy k has cell divmod(start + k, grid)
    grey; all grid * grid by default."""
    size = pixels.shape[0]
    edges = cell_edges(size, grid)
    stop = grid * grid if stop is None else stop
    copies = np.repeat(pixels[None], stop - start, axis=0)
    for k, cell in enumerate(range(start, stop)):
        row, col = divmod(cell, grid)
        copies[k, edges[row]:edges[row + 1], edges[col]:edges[col + 1]] = grey
    return copies


def occlusion(score, pixels: np.ndarray, grid: int = GRID,
              grey: int = GREY) -> tuple[float, np.ndarray]:
    """(P(fake) of the crop, (grid, grid) P(fake) with each cell greyed).

    score: (N, S, S, 3) uint8 -> (N,) P(fake); the crop itself is scored by the same
    scorer, so the drops are measured against the answer the same interpreter gives. The
    copies are made and scored MASK_BATCH at a time."""
    def scored(batch: np.ndarray) -> np.ndarray:
        p = np.asarray(score(batch), np.float64).reshape(-1)
        if p.shape != (len(batch),):
            raise ValueError(f"the scorer answered {p.shape} for {len(batch)} images")
        return p

    p_crop = scored(pixels[None])
    cells = grid * grid
    p_masked = np.concatenate([
        scored(masked_copies(pixels, grid, grey, start, min(start + MASK_BATCH, cells)))
        for start in range(0, cells, MASK_BATCH)])
    return float(p_crop[0]), p_masked.reshape(grid, grid)


def log_odds(p, resolution: float) -> np.ndarray:
    """log(p / (1 - p)), p first kept `resolution` away from 0 and 1: half an int8 output
    step, as an int8 model's 0 or 255 only says P(fake) is within half a step of the end."""
    p = np.clip(np.asarray(p, np.float64), resolution, 1.0 - resolution)
    return np.log(p) - np.log1p(-p)


@dataclasses.dataclass(frozen=True)
class HeatMap:
    """One judged crop's occlusion map."""
    pixels: np.ndarray
    """The (S, S, 3) uint8 crop the model judged."""
    crop: tuple[int, int, int, int]
    """[x0, y0, x1, y1] of the crop in the photo's pixels: where the map lies on the photo."""
    p_fake: float
    p_masked: np.ndarray
    """(grid, grid): P(fake) with that cell greyed."""
    grey: int
    ms: float
    resolution: float = 1e-7
    """How close to 0 or 1 an answer can be told apart (see `log_odds`)."""

    @property
    def grid(self) -> int:
        return self.p_masked.shape[0]

    @property
    def drops(self) -> np.ndarray:
        """(grid, grid): P(fake) of the crop minus P(fake) with that cell greyed."""
        return self.p_fake - self.p_masked

    @property
    def log_odds_drops(self) -> np.ndarray:
        """(grid, grid): the same drops in log-odds, the scale colours are painted on."""
        return log_odds(self.p_fake, self.resolution) - log_odds(self.p_masked, self.resolution)

    @property
    def max_drop(self) -> float:
        return float(self.drops.max())

    @property
    def scale(self) -> float:
        """The log-odds drop painted at full strength (see MIN_SCALE)."""
        return max(float(self.log_odds_drops.max()), MIN_SCALE)

    def intensity(self) -> np.ndarray:
        """(grid, grid) in [0, 1]; cells whose greying raises P(fake) are 0."""
        return np.clip(self.log_odds_drops / self.scale, 0.0, 1.0)

    def hottest(self, count: int = 1) -> list[tuple[int, int]]:
        """(row, col) of the `count` cells whose greying lowers P(fake) most."""
        order = np.argsort(-self.drops, axis=None, kind="stable")[:count]
        return [tuple(int(i) for i in np.unravel_index(k, self.drops.shape)) for k in order]

    def _pixel_intensity(self) -> np.ndarray:
        """(S, S) intensity of the cell each model pixel falls in."""
        size = self.pixels.shape[0]
        cell = np.searchsorted(cell_edges(size, self.grid), np.arange(size), side="right") - 1
        return self.intensity()[cell[:, None], cell[None, :]]

    def _colour_and_alpha(self) -> tuple[np.ndarray, np.ndarray]:
        """Yellow for a small drop to red for the largest, more opaque as it grows."""
        t = self._pixel_intensity()
        colour = np.stack([np.full_like(t, 255.0), 220.0 * (1.0 - t), np.zeros_like(t)], -1)
        return colour, MAX_ALPHA * t

    def layer_png(self) -> bytes:
        """The heat alone, S x S RGBA, transparent where P(fake) does not drop: to be laid
        over the photo at `crop` (the page does this over its thumbnail)."""
        colour, alpha = self._colour_and_alpha()
        rgba = np.concatenate([colour, 255.0 * alpha[..., None]], -1)
        return _png(np.round(rgba).astype(np.uint8), "RGBA")

    def overlay_png(self, min_side: int = MIN_PNG_SIDE) -> bytes:
        """The crop with the heat over it, RGB, scaled up by a whole factor (pixel-exact
        cells) to at least `min_side` px: a file that makes sense on its own."""
        colour, alpha = self._colour_and_alpha()
        a = alpha[..., None]
        rgb = np.round(self.pixels * (1.0 - a) + colour * a).astype(np.uint8)
        size = self.pixels.shape[0]
        factor = max(1, -(-min_side // size))
        image = Image.fromarray(rgb, "RGB")
        if factor > 1:
            image = image.resize((size * factor, size * factor), Image.NEAREST)
        return _png(image)

    def as_dict(self, png: str) -> dict:
        """The answer's "explain" entry; `png` says where the picture is (a path, a URL).
        hottest is None when no cell lowers P(fake) at all (an int8 answer saturated at its
        top step often stays there whichever cell is greyed)."""
        return {"png": png, "crop": list(self.crop), "grid": self.grid, "grey": self.grey,
                "hottest": list(self.hottest()[0]) if self.max_drop > 0 else None,
                "max_drop": round(self.max_drop, 6),
                "max_log_odds_drop": round(float(self.log_odds_drops.max()), 4),
                "drops": np.round(self.drops, 6).tolist(), "ms": round(self.ms, 3)}


def _png(pixels: np.ndarray | Image.Image, mode: str | None = None) -> bytes:
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels, mode)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class Explainer:
    """Occlusion maps from a Detector's own interpreter: `explain(pixels, crop)` for any
    judged crop, `explain_bytes(data)` for a whole image as `classify_bytes` judges it."""

    def __init__(self, detector, grid: int = GRID, grey: int = GREY):
        grid = options.EXPLAIN_GRID.check(grid)
        if grid > detector.image_size:
            raise ValueError(f"the explain grid must be 2 to {detector.image_size} cells per "
                             f"side for this {detector.image_size} px model, not {grid}")
        self.detector = detector
        self.grid = grid
        self.grey = grey

    def explain(self, pixels: np.ndarray, crop) -> HeatMap:
        """The map of one (S, S, 3) uint8 crop cut from the photo at [x0, y0, x1, y1]."""
        start = time.perf_counter()
        p_fake, p_masked = occlusion(self.detector.p_fake_batch, pixels, self.grid, self.grey)
        return HeatMap(pixels, tuple(int(v) for v in crop), p_fake, p_masked, self.grey,
                       (time.perf_counter() - start) * 1000.0,
                       max(self.detector.output_step / 2.0, 1e-7))

    def explain_bytes(self, data: bytes) -> tuple[Verdict, list[HeatMap]]:
        """(Verdict, maps) for an encoded image judged as `Detector.classify_bytes` judges
        it; raises imageio.ImageError. With faces judged, one map per face in
        `Verdict.faces` order; otherwise one map of the whole image's centred square (none
        when faces were required and none was found).

        The image is decoded once; each verdict is the unmasked crop's P(fake) from the same
        pass, calibrated, which is what `classify_bytes` answers for these bytes. The maps
        are drawn on the model's raw P(fake): calibration is an affine map of its log-odds,
        so it would rescale the drops and keep which cells are hottest."""
        start = time.perf_counter()
        detector = self.detector
        image = imageio.open_image(data)  # any mode: crops convert only strips around them
        if detector.face_finder is not None:
            judged = detector.judge_faces(image)
            verdict = detector.classify_faces(image, start, judged)
            if verdict.judged == "faces":
                heats = [self.explain(pixels, face["crop"]) for face, pixels in judged]
                return dataclasses.replace(
                    verdict, ms=(time.perf_counter() - start) * 1000.0), heats
        top, left, side = preprocess.center_square_box(image.height, image.width)
        pixels = preprocess.preprocess(image, detector.image_size)
        heat = self.explain(pixels, (left, top, left + side, top + side))
        return detector.whole_image(heat.p_fake, start, None if detector.face_finder is None
                                    else verdicts.OUT_OF_DOMAIN), [heat]


def attach(answer: dict, verdict: Verdict, heats: list[HeatMap], describe) -> dict:
    """Puts each map where its crop is reported: on each face when faces were judged, else
    on the answer itself. `describe(heat, index)` is the map's JSON entry (a PNG path for
    the CLI, a data URL for the API)."""
    if verdict.judged == "faces":
        for index, (face, heat) in enumerate(zip(answer["faces"], heats)):
            face["explain"] = describe(heat, index)
    elif heats:
        answer["explain"] = describe(heats[0], None)
    return answer
