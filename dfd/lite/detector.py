"""One exported .tflite model answering P(fake) for images, safely from many threads.

The device side of dfd: bytes in, the `dfd.common.spec` preprocessing in numpy, one interpreter
call, P(fake) out. With faces on (`faces="auto"` or `"on"`) the bundle's face detector
finds every face first and each face's training-style crop is judged on its own; the
photo's P(fake) is its most suspicious face's and its verdict follows
`dfd.common.verdicts` (fake if any face is fake, else uncertain if any is). The P(fake)
reported is calibrated with the artifact's own fit from model.json
(`dfd.common.calibration`), the raw one kept as p_fake_raw. Quantized models are handled from the
tensors' own quantization parameters, so float32, float16 and int8 files are used the same
way. The interpreter is
not thread-safe, so every call holds one lock; a web server shares one Detector.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time

import numpy as np

from dfd.common import calibration, verdicts
from dfd.common import card as card_schema
from dfd.lite import faces as face_search
from dfd.lite import imageio, tensors
from dfd.common import preprocess
from dfd.lite.interpreter import KERNELS, NoInterpreterError, default_threads
from dfd.lite.kernels import open_interpreter


class ModelError(RuntimeError):
    """The model file or its model.json cannot be used; the message names the file."""


FACES = ("auto", "on", "off")
"""How a photo is judged. off: the whole image, as before faces. on: each face the bundle's
detector finds (none found: no verdict). auto: faces when any is found, else the whole image."""

NO_FACE = verdicts.NO_FACE


@dataclasses.dataclass(frozen=True)
class Verdict:
    p_fake: float | None
    verdict: str
    threshold: float
    ms: float
    judged: str | None = None
    """"faces" or "whole image" when faces were asked for; None when they were off."""
    faces: tuple[dict, ...] = ()
    """Per face: box [x0, y0, x1, y1] in the photo's pixels, score, p_fake, p_fake_raw,
    verdict, and crop [x0, y0, x1, y1], the square the classifier judged."""
    p_fake_raw: float | None = None
    """The model's own answer before calibration (p_fake is calibrated)."""
    band: tuple[float, float] | None = None
    """The uncertain band (LOW, HIGH) the verdict was given with, None when off."""
    note: str | None = None
    """What the person must know to read the answer (verdicts.OUT_OF_DOMAIN)."""

    def as_dict(self) -> dict:
        out = {"p_fake": self.p_fake, "p_fake_raw": self.p_fake_raw, "verdict": self.verdict,
               "threshold": self.threshold}
        if self.band is not None:
            out["uncertain"] = list(self.band)
        out["ms"] = round(self.ms, 3)
        if self.judged is not None:
            out["judged"] = self.judged
            out["faces"] = [dict(face) for face in self.faces]
        if self.note is not None:
            out["note"] = self.note
        return out


def read_model_card(model_path: str) -> dict:
    """model.json beside the model, checked (`dfd.common.card`), or {} when the user copied
    the .tflite alone."""
    try:
        return card_schema.read(model_path)
    except card_schema.CardError as e:
        raise ModelError(str(e)) from None


def resolve_threshold(thresholds: dict, threshold: float | str | None) -> float:
    """A number, or the name of one of the artifact's thresholds in model.json ("default",
    "eer_validation", "fpr_1pct"; a card from before calibration names them card-wide)."""
    if threshold is None:
        threshold = "default"
    if isinstance(threshold, str):
        try:
            threshold = float(threshold)
        except ValueError:
            if threshold == "default" and "default" not in thresholds:
                return 0.5
            if threshold not in thresholds:
                raise ModelError(f"threshold {threshold!r} is neither a number nor one of the "
                                 f"model card's thresholds {sorted(thresholds)}") from None
            threshold = thresholds[threshold]
    threshold = float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise ModelError(f"threshold {threshold} is outside [0, 1]")
    return threshold


def resolve_band(entry: dict, uncertain: verdicts.Band | str | None) -> verdicts.Band | None:
    """--uncertain (a Band, "LOW,HIGH" or off), else the artifact's band from model.json,
    else none."""
    if isinstance(uncertain, verdicts.Band):
        return uncertain
    if uncertain is None:
        return verdicts.band_of(entry.get(card_schema.UNCERTAIN))
    try:
        return verdicts.parse_band(uncertain)
    except ValueError as e:
        raise ModelError(f"the uncertain band {e}") from None


class Detector:
    """A .tflite deepfake detector: `classify_bytes(data)` -> Verdict.

    threads: interpreter threads, by default the cores this process may use. kernels: see
    `dfd.lite.kernels`; `self.kernel_choice` says which ran and why. faces: one of FACES;
    min_face: the smallest face searched for, in photo pixels (`dfd.lite.faces`).
    threshold and uncertain: as --threshold and --uncertain (None: model.json's)."""

    def __init__(self, model_path: str, threads: int | None = None,
                 threshold: float | str | None = None, kernels: str = "auto",
                 faces: str = "off", min_face: float = face_search.DEFAULT_MIN_FACE,
                 uncertain: verdicts.Band | str | None = None,
                 allow_failed_gate: bool = False):
        self.path = model_path
        self.card = read_model_card(model_path)
        try:
            card_schema.check_model_file(model_path, self.card)
        except card_schema.CardError as e:
            raise ModelError(str(e)) from None
        self.gate_note = card_schema.gate_problem(self.card, model_path)
        """Why the export's gate did not pass this model, when it runs anyway; else None."""
        if self.gate_note and not allow_failed_gate:
            raise ModelError(f"{self.gate_note}: refused (--allow_failed_gate runs it anyway)")
        self.threads = threads or default_threads()
        if kernels not in KERNELS:
            raise ValueError(f"kernels must be one of {KERNELS}, not {kernels!r}")
        try:
            self._interpreter, self.interpreter_package, self.kernel_choice = open_interpreter(
                model_path, self.threads, kernels, self.card)
        except NoInterpreterError:
            raise  # a missing package, not a bad model file: its own message says what to do
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"{model_path} is not a loadable TFLite model: {e}") from None
        try:
            self._input, self._output = tensors.classifier_tensors(self._interpreter)
        except ValueError as e:
            raise ModelError(f"{model_path} is not a dfd classifier: it {e}") from None
        self.image_size = int(self._input["shape"][1])
        card_size = self.card.get("preprocessing", {}).get("image_size")
        if card_size is not None and int(card_size) != self.image_size:
            raise ModelError(f"{model_path} takes {self.image_size}px images but its model.json "
                             f"says {card_size}px: the card belongs to another model")
        entry = card_schema.artifact(self.card, model_path)
        fit = entry.get(card_schema.P_FAKE_CALIBRATION)
        self.calibration = (calibration.IDENTITY if fit is None
                            else calibration.Calibration.from_dict(fit))
        self.thresholds = entry.get(card_schema.THRESHOLDS,
                                    self.card.get(card_schema.THRESHOLDS, {}))
        self.threshold = resolve_threshold(self.thresholds, threshold)
        self.band = resolve_band(entry, uncertain)
        self._lock = threading.Lock()
        self.face_note = None
        """Why faces were asked for but whole images are judged, for the user; else None."""
        self.faces, self.face_finder = self._open_face_finder(faces, min_face)

    def _open_face_finder(self, faces: str, min_face: float):
        """(faces mode, FaceFinder or None). A bundle without a detector judges whole
        images under "auto" and refuses "on"."""
        if faces not in FACES:
            raise ValueError(f"faces must be one of {FACES}, not {faces!r}")
        config = self.card.get(face_search.CARD_KEY)
        if faces == "off":
            return faces, None
        if config is None and faces == "auto":
            self.face_note = "the bundle has no face detector: whole images are judged"
            return faces, None
        if config is None:
            raise ModelError(f"{self.path}'s model.json has no face detector (exported "
                             f"with --face_detector=none or before faces existed): "
                             f"re-export, or judge whole images with faces off")
        try:
            return faces, face_search.FaceFinder(
                os.path.dirname(os.path.abspath(self.path)), config, self.threads,
                "xnnpack" if self.kernels == "xnnpack" else "builtin", min_face)
        except face_search.FaceModelMissing as e:
            if faces == "on":
                raise ModelError(f"{self.path}: {e}") from None
            self.face_note = f"{e}: whole images are judged (copy it beside the model)"
            return faces, None  # a .tflite and model.json copied without it, as before faces
        except (face_search.FaceModelError, KeyError) as e:
            raise ModelError(f"{self.path}'s face detector cannot be used: {e}") from None

    @property
    def kernels(self) -> str:
        """"xnnpack" or "builtin": the kernels that answer."""
        return self.kernel_choice.kernels

    @property
    def description(self) -> dict:
        """Which model answers: for logs, the web page and the API."""
        name = os.path.basename(self.path)
        artifact = card_schema.artifact(self.card, self.path)
        return {"file": name, "name": self.card.get("model", os.path.splitext(name)[0]),
                "precision": artifact.get("precision", str(np.dtype(self._input["dtype"]))),
                "sha256": artifact.get("sha256"), "image_size": self.image_size,
                "dfd_version": self.card.get("dfd_version"),
                "interpreter": self.interpreter_package, "threads": self.threads,
                "kernels": self.kernels, "kernel_check": self.kernel_choice.as_dict(),
                "calibration": self.calibration.method,
                "uncertain": None if self.band is None else self.band.as_list(),
                "faces": self.faces, "face_note": self.face_note, "gate_note": self.gate_note,
                "face_detector": (None if self.face_finder is None else
                                  {"file": os.path.basename(self.face_finder.path),
                                   "variant": self.face_finder.config.get("variant"),
                                   "min_face": self.face_finder.min_face})}

    def p_fake_pixels(self, pixels: np.ndarray) -> float:
        """P(fake) for one (S, S, 3) uint8 image already preprocessed by `dfd.common.spec`."""
        if pixels.shape != (self.image_size, self.image_size, 3) or pixels.dtype != np.uint8:
            raise ValueError(f"expected uint8 pixels of shape "
                             f"{(self.image_size, self.image_size, 3)}, got "
                             f"{pixels.dtype} {pixels.shape}")
        batch = tensors.input_batch(pixels, self._input)
        with self._lock:
            self._interpreter.set_tensor(self._input["index"], batch)
            self._interpreter.invoke()
            raw = self._interpreter.get_tensor(self._output["index"])
        return float(tensors.dequantize(raw.reshape(-1)[:1], self._output)[0])

    def p_fake_batch(self, batch: np.ndarray) -> np.ndarray:
        """P(fake) for each of N (S, S, 3) uint8 images, through the same one interpreter.

        One invocation per image: dfd's .tflite files take a batch of exactly one (their
        output is reshaped to [1]), and on a dynamic-batch conversion batching was no faster
        than this loop (BUILD_NOTES.md, explain). The lock is taken per image, so a long
        batch (an explanation) does not hold up other requests for its whole length."""
        return np.array([self.p_fake_pixels(pixels) for pixels in batch], np.float64)

    @property
    def output_step(self) -> float:
        """The smallest change of P(fake) this model can report: its output's quantization
        step for an int8 file (1/256), 0 for float outputs."""
        if not tensors.is_integer(self._output):
            return 0.0
        return float(self._output["quantization"][0])

    def pixels(self, data: bytes) -> np.ndarray:
        """Encoded image bytes to the model's uint8 input; ImageError if not an image."""
        return preprocess.preprocess(imageio.open_image(data), self.image_size)

    def verdict_of(self, p_fake: float) -> str:
        """fake, real or uncertain for a calibrated P(fake) (`dfd.common.verdicts`)."""
        return verdicts.verdict(p_fake, self.threshold, self.band)

    def whole_image(self, raw: float, start: float, note: str | None = None) -> Verdict:
        """The Verdict of a whole image the model answered `raw` for."""
        p_fake = self.calibration.apply(raw)
        return Verdict(p_fake, self.verdict_of(p_fake), self.threshold,
                       (time.perf_counter() - start) * 1000.0,
                       "whole image" if self.faces == "auto" else None, (), raw,
                       None if self.band is None else tuple(self.band.as_list()), note)

    def classify_bytes(self, data: bytes) -> Verdict:
        """Decode, preprocess and classify one encoded image; raises imageio.ImageError."""
        start = time.perf_counter()
        if self.face_finder is None:
            return self.whole_image(self.p_fake_pixels(self.pixels(data)), start)
        # Faces are searched on a reduced copy and crops read bounded strips, so the photo
        # stays in the mode it decoded to (a whole RGB copy of a 40 MP PNG is 160 MB).
        return self.classify_faces(imageio.open_image(data), start)

    def judge_faces(self, image) -> list[tuple[dict, np.ndarray]]:
        """Each face the detector finds in a decoded photo, judged on its own crop: (the
        face's record, the model input it was judged on), so a caller that goes on to
        explain the faces does not cut and resample every crop a second time."""
        try:
            with self._lock:
                found = self.face_finder.find(image)
        except MemoryError:
            raise imageio.TooLargeError("not enough memory to search this image for "
                                        "faces") from None
        judged = []
        for face in found:
            top, left, side = face.crop
            crop = [left, top, left + side, top + side]
            pixels = self.crop_pixels(image, crop)
            raw = self.p_fake_pixels(pixels)
            p_fake = self.calibration.apply(raw)
            judged.append(({"box": [round(v, 1) for v in face.box],
                            "score": round(face.score, 4), "p_fake": p_fake,
                            "p_fake_raw": raw, "verdict": self.verdict_of(p_fake),
                            "crop": crop}, pixels))
        return judged

    def crop_pixels(self, image, crop) -> np.ndarray:
        """The model's input for the square `crop` [x0, y0, x1, y1] of a decoded photo, as
        a face is judged (the same resampling as the preprocessing contract)."""
        left, top, right, _ = crop
        return preprocess.to_model_pixels(
            preprocess.resize_bilinear(image, (top, left, right - left), self.image_size))

    def classify_faces(self, image, start: float, judged=None) -> Verdict:
        """The photo's verdict from its faces (`verdicts.photo_verdict`); its P(fake) is
        the most suspicious face's. No face under auto: the whole image, said out of domain.
        `judged`: this image's `judge_faces`, when the caller has it already."""
        faces = [face for face, _ in (self.judge_faces(image) if judged is None else judged)]
        if not faces and self.faces == "auto":
            return self.whole_image(
                self.p_fake_pixels(preprocess.preprocess(image, self.image_size)), start,
                verdicts.OUT_OF_DOMAIN)
        top = max(faces, key=lambda face: face["p_fake"]) if faces else {}
        ms = (time.perf_counter() - start) * 1000.0
        return Verdict(top.get("p_fake"), verdicts.photo_verdict(f["verdict"] for f in faces),
                       self.threshold, ms, "faces", tuple(faces), top.get("p_fake_raw"),
                       None if self.band is None else tuple(self.band.as_list()))
