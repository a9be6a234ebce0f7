"""Finding faces in a photo on the device: MediaPipe's BlazeFace run by the same LiteRT
interpreter as the classifier, with anchors, decoding and weighted suppression in numpy.

The bundle carries the detector file and its settings (model.json "face_detector", written
by the export from `settings`); nothing is downloaded and TensorFlow is never imported.
`FaceFinder.find(image)` returns every face with its box in the photo's pixels and the
square crop the classifier should judge.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from PIL import Image

from dfd.common.checksums import sha256_file
from dfd.lite import options
from dfd.lite.faces import reduced, search
from dfd.lite.faces.crop import crop_square
from dfd.lite.faces.decode import Detections
from dfd.lite.faces.nms import weighted_nms
from dfd.lite.faces.runner import FaceModel, FaceModelError, FaceModelMissing

__all__ = ["ACCEPT_SCORE", "CARD_KEY", "DEFAULT_MIN_FACE", "MAX_FACES", "Face", "FaceFinder",
           "FaceModelError", "FaceModelMissing"]

CARD_KEY = "face_detector"
"""model.json's section describing the bundled face detector."""

DEFAULT_MIN_FACE = options.MIN_FACE.default
"""Smallest face (side of its training-style crop, in photo pixels) searched for: below
it the classifier would judge an upscaled blur, and each halving of this size quadruples
the windows a large photo needs."""

SMALL_FACE_SLACK = 0.75
"""Faces whose crop is under this fraction of min_face are dropped: the finest windows see
texture at a magnification where it can pass for a face, and no face that small was asked for."""

ACCEPT_SCORE = 0.7
"""Lowest detector score reported as a face. MediaPipe's graph keeps 0.6, but on composed
photos the false faces on generated backgrounds scored 0.60 to 0.70 while every found face
of the 60-photo benchmark scored 0.72 or more (BUILD_NOTES.md "Faces"); the export
records it in model.json ("accept_score")."""

MAX_FACES = 32
"""Most faces judged in one photo, best scored first: bounds a crowd photo's cost."""


@dataclasses.dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]
    """(x0, y0, x1, y1) in the photo's pixels, clipped to the photo."""
    score: float
    keypoints: np.ndarray
    """(6, 2) (x, y) in the photo's pixels: eyes, nose tip, mouth, ear tragions."""
    crop: tuple[int, int, int]
    """(top, left, side) of the square the classifier judges."""


class FaceFinder:
    """The bundle's face detector; not thread-safe (the Detector calls it under its lock)."""

    def __init__(self, bundle_dir: str, config: dict, threads: int | None, kernels: str,
                 min_face: float = DEFAULT_MIN_FACE):
        path = os.path.join(bundle_dir, config.get("file", ""))
        if not config.get("file") or not os.path.isfile(path):
            raise FaceModelMissing(f"face detector {path} named by model.json does not exist")
        if config.get("sha256") and sha256_file(path) != config["sha256"]:
            raise FaceModelError(f"face detector {path} does not match the sha256 in "
                                 f"model.json: the file is damaged or from another bundle")
        self.path, self.config = path, config
        self.min_face = float(options.MIN_FACE.check(min_face))
        self.model = FaceModel(path, config, threads, kernels)
        self.crop = config.get("crop")
        if not self.crop:
            raise FaceModelError(f"model.json's {CARD_KEY} has no crop framing for {path}")
        self.suppression = config["nms"]["min_suppression_threshold"]
        self.accept_score = float(config.get("accept_score",
                                             config["decoding"]["min_score_thresh"]))
        self.keypoint_count = config["decoding"]["num_keypoints"]

    def detections(self, image: Image.Image) -> Detections:
        """Every window's kept detections, merged by weighted suppression, best first."""
        width, height = image.size
        factor = reduced.reduction_factor(width, height, self.min_face / search.MIN_FRACTION,
                                          self.model.size)
        small = reduced.reduced_rgb(image, factor)
        found = []
        for window in search.windows(width, height, self.min_face):
            seen = self.model.detect_window(small, window.left, window.top, window.side,
                                            factor)
            found.append(search.keep_in_window(seen, window, width, height))
        merged = Detections.concatenate(found, self.keypoint_count)
        return weighted_nms(merged, self.suppression)

    def find(self, image: Image.Image) -> list[Face]:
        """Faces in a decoded photo of any mode, best scored first, at most MAX_FACES."""
        width, height = image.size
        found = self.detections(image)
        faces = []
        for index in range(min(len(found), MAX_FACES)):
            x0, y0, x1, y1 = (float(v) for v in found.boxes[index])
            box = (max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height)))
            crop_side = (x1 - x0 + y1 - y0) / 2.0 * self.crop["side_over_box"]
            if box[2] <= box[0] or box[3] <= box[1] or found.scores[index] < \
                    self.accept_score or crop_side < SMALL_FACE_SLACK * self.min_face:
                continue
            faces.append(Face(box, float(found.scores[index]), found.keypoints[index],
                              crop_square((x0, y0, x1, y1), width, height, self.crop)))
        return faces
