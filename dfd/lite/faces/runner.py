"""One BlazeFace model on one square window of a photo: pixels in, detections in photo pixels.

The window may reach past the photo's edges (a letterboxed whole photo, a tile at the
border): what lies outside is black, as MediaPipe's zero border. Only the window's pixels
are resampled, with Pillow's reducing resize, so a 12-megapixel photo costs a few reads of
its pixels, not a float copy of it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from dfd.lite.faces.anchors import ssd_anchors
from dfd.lite.faces.decode import Detections, decode
from dfd.lite.interpreter import load_interpreter


class FaceModelError(RuntimeError):
    """The face detector file or its settings cannot be used; the message names the file."""


class FaceModelMissing(FaceModelError):
    """model.json names a face detector file that is not beside the model."""


class FaceModel:
    """A BlazeFace .tflite with its model.json settings; not thread-safe (callers lock)."""

    def __init__(self, path: str, config: dict, threads: int | None, kernels: str):
        try:
            self.interpreter, _ = load_interpreter(path, threads, kernels)
        except (ValueError, RuntimeError) as e:
            raise FaceModelError(f"{path} is not a loadable TFLite model: {e}") from None
        (self._input,) = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        by_width = {int(d["shape"][-1]): d for d in outputs}
        self.decoding = config["decoding"]
        coords = 4 + 2 * self.decoding["num_keypoints"]
        if len(outputs) != 2 or set(by_width) != {1, coords}:
            raise FaceModelError(f"{path} has outputs {[tuple(d['shape']) for d in outputs]}; "
                                 f"a BlazeFace model has (1, N, {coords}) and (1, N, 1)")
        self._boxes, self._scores = by_width[coords], by_width[1]
        self.size = int(self._input["shape"][1])
        if list(self._input["shape"][1:3]) != list(config["input_size"])[::-1]:
            raise FaceModelError(f"{path} takes {tuple(self._input['shape'])} but its model.json "
                                 f"says {config['input_size']}")
        self.anchors = ssd_anchors(config["anchors"])
        if len(self.anchors) != int(self._boxes["shape"][1]):
            raise FaceModelError(f"{path} predicts {self._boxes['shape'][1]} boxes but its "
                                 f"model.json anchors make {len(self.anchors)}")
        low, high = config["input"]["value_range"]
        self._scale, self._offset = (high - low) / 255.0, low

    def window_pixels(self, image: Image.Image, left: float, top: float,
                      side: float) -> np.ndarray:
        """The square window as the model's (S, S, 3) uint8 input, black outside the photo."""
        size = self.size
        canvas = np.zeros((size, size, 3), np.uint8)
        x0, y0 = max(left, 0.0), max(top, 0.0)
        x1, y1 = min(left + side, image.width), min(top + side, image.height)
        if x1 <= x0 or y1 <= y0:
            return canvas
        scale = size / side
        px0, py0 = int(round((x0 - left) * scale)), int(round((y0 - top) * scale))
        pw = max(1, min(size - px0, int(round((x1 - x0) * scale))))
        ph = max(1, min(size - py0, int(round((y1 - y0) * scale))))
        part = image.resize((pw, ph), Image.BILINEAR, box=(x0, y0, x1, y1), reducing_gap=2.0)
        canvas[py0:py0 + ph, px0:px0 + pw] = np.asarray(part, np.uint8)
        return canvas

    def detect_pixels(self, pixels: np.ndarray) -> Detections:
        """Detections on one (S, S, 3) uint8 input, normalised to it, before suppression."""
        batch = (pixels.astype(np.float32) * np.float32(self._scale)
                 + np.float32(self._offset))[None]
        self.interpreter.set_tensor(self._input["index"], batch)
        self.interpreter.invoke()
        regressors = self.interpreter.get_tensor(self._boxes["index"])[0]
        logits = self.interpreter.get_tensor(self._scores["index"])[0]
        return decode(regressors, logits, self.anchors, self.decoding)

    def detect_window(self, image: Image.Image, left: float, top: float, side: float,
                      factor: int = 1) -> Detections:
        """Detections in the window, in the photo's pixel coordinates; `image` is the photo
        reduced by `factor` (`dfd.lite.faces.reduced`), the window is in the photo's."""
        found = self.detect_pixels(
            self.window_pixels(image, left / factor, top / factor, side / factor))
        origin = np.asarray([left, top], np.float32)
        boxes = found.boxes * np.float32(side) + np.tile(origin, 2)
        keypoints = found.keypoints * np.float32(side) + origin
        return Detections(boxes.astype(np.float32), keypoints.astype(np.float32), found.scores)
