"""model.json, the bundle's card: its field names and the one check of it every reader runs.

The export writes the card (`export/model_card.py`, through the names below) and the device
programs (`dfd-lite`, `dfd-serve`, `dfd-score`) read it before anything runs, through
`read`: a card that is not a JSON object, not UTF-8, nested past any sense, or whose known
fields have the wrong type or an impossible value (a threshold of 7, a 0 px input, strides
of 0, a NaN crop) is one `CardError` naming the file and the field, never a traceback deep
in the face search (issue 25, case 7). Fields this version does not know are left alone, so
a newer export still opens. `check_model_file` then tells a dfd classifier from what is
not one (the bundle's face detector, a folder, a truncated copy), and `gate_problem` says
whether the export's gate passed the artifact (issue 22, section 4). Each artifact's
P(fake) calibration, named thresholds and uncertain band (issue 22, sections 1-2) are
checked here too, so the runtime builds them from the card without checking again.

No TensorFlow and no absl: the device imports this, and so does the export.
"""

from __future__ import annotations

import json
import math
import os
import re

from dfd.common import spec
from dfd.common.checksums import sha256_file

MODEL_CARD = spec.MODEL_CARD
PREPROCESSING = "preprocessing"
IMAGE_SIZE = "image_size"
THRESHOLDS = "thresholds"
ARTIFACTS = "artifacts"
FACE_DETECTOR = "face_detector"
GOLDEN = "golden"
TRAINING = "training"
TEACHER = "teacher"
"""training.teacher: a distilled student's teacher (export/model_card.py's teacher_entry):
the run, its checkpoint and sha256, its validation figures, the distillation settings and
the student's agreement with it, for the union and per source. An ensemble of teachers
(dfd.train.distill) records `combine` and its `members`, each as one teacher is recorded."""
TEACHER_COMBINE = ("max", "mean")
"""How an ensemble teacher's members are combined (dfd.train.distill.COMBINE)."""
TEACHER_CHECKPOINTS = ("best.keras", "final.keras")
FIGURES = {"auc": (0.0, 1.0), "accuracy": (0.0, 1.0), "eer": (0.0, 1.0),
           "loss": (0.0, 1e6), "examples": (0, 2 ** 40)}
"""A split's figures a card may quote (dfd.common.metrics.summarize), with their ranges;
null where a figure is undefined (the AUC of a split holding one class)."""
AGREEMENT = {"examples": (0, 2 ** 40), "teacher_fake_share": (0.0, 1.0),
             "auc_vs_teacher_decisions": (0.0, 1.0), "mean_abs_difference": (0.0, 1.0),
             "same_decision": (0.0, 1.0)}
"""dfd.evaluate.agreement's figures of a student against its teacher, with their ranges."""
GATE = "gate"
"""An artifact's gate record: {"status": one of GATE_STATUSES, "failures": [...], figures}."""
GATE_STATUSES = ("pending", "passed", "failed")
"""pending: written before the export judged it (the export stopped before it could)."""
P_FAKE_CALIBRATION = "p_fake_calibration"
"""An artifact's fit of its own P(fake) (`dfd.common.calibration.Calibration.as_dict`)."""
CALIBRATION_METHODS = ("platt", "none")
UNCERTAIN = "uncertain"
"""An artifact's uncertain band: {"low", "high", what it did on validation} (issue 22)."""
MAX_PLATT_SLOPE = 1e4
"""Largest Platt slope a card may hold: the fit declines a slope it cannot justify (the
likelihood-ratio test), so anything near this is damage, not a fit."""
MAX_PLATT_BIAS = 1e4

MAX_CARD_BYTES = 16 * 1024 * 1024
"""A card is a few kilobytes; anything near this is not one."""
MAX_DEPTH = 32
"""Deepest nesting a card may have (the export's is 6); 100k nested lists once ended in
a RecursionError traceback."""
IMAGE_SIZES = (8, 4096)
THRESHOLD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
SHA256 = re.compile(r"[0-9a-f]{64}")


class CardError(ValueError):
    """model.json (or the model file it describes) cannot be used; the message names the
    file and what is wrong."""


def card_path(model_path: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(model_path)), MODEL_CARD)


def read(model_path: str) -> dict:
    """The checked card beside `model_path`, or {} when there is none (a .tflite copied
    alone still runs, at the default threshold, without faces or golden vectors)."""
    path = card_path(model_path)
    if not os.path.lexists(path):
        return {}
    return load(path)


def load(path: str) -> dict:
    """Reads, parses and checks the card at `path`; CardError saying why not."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CARD_BYTES + 1)
    except OSError as e:
        raise CardError(f"{path}: cannot read: {e.strerror or e}") from None
    if len(data) > MAX_CARD_BYTES:
        raise CardError(f"{path}: over {MAX_CARD_BYTES} bytes, not a model card")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CardError(f"{path}: not UTF-8 (byte {e.start}): not a model card") from None
    return validate(parse(text, path), path)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse(text: str, path: str = MODEL_CARD):
    """JSON without NaN or Infinity, refused past MAX_DEPTH before the parser recurses."""
    depth = 0
    in_string = escaped = False
    for char in text:  # brackets outside strings give the depth without parsing
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise CardError(f"{path}: nested more than {MAX_DEPTH} deep: not a model card")
        elif char in "]}":
            depth -= 1
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        raise CardError(f"{path}: not valid JSON: {e}") from None


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Checker:
    """Type and range checks that name the card and the field."""

    def __init__(self, path: str):
        self.path = path

    def fail(self, field: str, what: str, value=...):
        shown = "" if value is ... else f", not {_show(value)}"
        raise CardError(f"{self.path}: {field} must be {what}{shown}")

    def object(self, field: str, value) -> dict:
        if not isinstance(value, dict):
            self.fail(field, "an object", value)
        return value

    def number(self, field: str, value, low: float, high: float, whole: bool = False,
               low_open: bool = False, high_open: bool = False) -> float:
        kind = "a whole number" if whole else "a number"
        bounds = (f"{'above' if low_open else 'from'} {low:g} {'up ' if low_open else ''}"
                  f"to {high:g}{' (not included)' if high_open else ''}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                whole and not isinstance(value, int)):
            self.fail(field, f"{kind} {bounds}", value)
        if not math.isfinite(value) or not (low < value if low_open else low <= value) \
                or not (value < high if high_open else value <= high):
            self.fail(field, f"{kind} {bounds}", value)
        return value

    def string(self, field: str, value) -> str:
        if not isinstance(value, str):
            self.fail(field, "a string", value)
        return value

    def boolean(self, field: str, value) -> bool:
        if not isinstance(value, bool):
            self.fail(field, "true or false", value)
        return value

    def numbers(self, field: str, value, count: tuple[int, int], low: float, high: float,
                whole: bool = False, low_open: bool = False) -> list:
        if not isinstance(value, list) or not count[0] <= len(value) <= count[1]:
            self.fail(field, f"a list of {count[0]} to {count[1]} numbers", value)
        return [self.number(f"{field}[{i}]", v, low, high, whole, low_open)
                for i, v in enumerate(value)]

    def file_name(self, field: str, value) -> str:
        """A plain name of a file beside the card: no folder, never outside the bundle."""
        self.string(field, value)
        if not value or value in (".", "..") or "/" in value or "\\" in value or "\0" in value:
            self.fail(field, "a file name beside model.json (no folder)", value)
        return value

    def sha256(self, field: str, value) -> str:
        if not isinstance(value, str) or not SHA256.fullmatch(value):
            self.fail(field, "a sha256 (64 lowercase hex digits)", value)
        return value


def validate(card, path: str = MODEL_CARD) -> dict:
    """`card` itself when every field dfd reads has a usable type and value; CardError
    naming the first that does not. The export checks what it writes with this too."""
    check = _Checker(path)
    if not isinstance(card, dict):
        raise CardError(f"{path}: a model card is a JSON object, not "
                        f"{'null' if card is None else type(card).__name__}")
    preprocessing = check.object(PREPROCESSING, card.get(PREPROCESSING))
    check.number(f"{PREPROCESSING}.{IMAGE_SIZE}", preprocessing.get(IMAGE_SIZE), *IMAGE_SIZES,
                 whole=True)
    _thresholds(check, THRESHOLDS, card.get(THRESHOLDS, {}))
    for name, entry in check.object(ARTIFACTS, card.get(ARTIFACTS, {})).items():
        _artifact(check, f"{ARTIFACTS}.{name}", entry)
    if card.get(FACE_DETECTOR) is not None:
        _face_detector(check, card[FACE_DETECTOR])
    # GOLDEN is not checked here: a damaged golden section only costs XNNPACK (the builtin
    # kernels run, the reason said), which `dfd.lite.kernels.golden_for` decides itself.
    for field in ("model", "dfd_version"):
        if field in card:
            check.string(field, card[field])
    if TRAINING in card:
        training = check.object(TRAINING, card[TRAINING])
        if training.get(TEACHER) is not None:
            _teacher(check, f"{TRAINING}.{TEACHER}", training[TEACHER])
    return card


def _thresholds(check: _Checker, field: str, section) -> None:
    """{name: P(fake) from 0 to 1}: card-wide (before calibration) or an artifact's own."""
    for name, value in check.object(field, section).items():
        if not THRESHOLD_NAME.fullmatch(name):
            check.fail(field, "named by letters, digits and _", name)
        check.number(f"{field}.{name}", value, 0.0, 1.0)


def _calibration(check: _Checker, field: str, section) -> None:
    """p = sigmoid(a * logit(clip(raw, clip, 1 - clip)) + b): a slope that keeps the
    ranking (a > 0), a finite bias, and a clip that leaves an interval to clip into."""
    check.object(field, section)
    method = section.get("method")
    if method not in CALIBRATION_METHODS:
        check.fail(f"{field}.method", f"one of {', '.join(CALIBRATION_METHODS)}", method)
    if "note" in section:
        check.string(f"{field}.note", section["note"])
    if method == "none" and "clip" not in section:
        return
    check.number(f"{field}.clip", section.get("clip"), 0.0, 0.5, low_open=True, high_open=True)
    if method == "platt":
        check.number(f"{field}.a", section.get("a"), 0.0, MAX_PLATT_SLOPE, low_open=True)
        check.number(f"{field}.b", section.get("b"), -MAX_PLATT_BIAS, MAX_PLATT_BIAS)


def _band(check: _Checker, field: str, section) -> None:
    """The uncertain band LOW < P(fake) < HIGH, inside [0, 1], LOW <= HIGH."""
    check.object(field, section)
    low = check.number(f"{field}.low", section.get("low"), 0.0, 1.0)
    high = check.number(f"{field}.high", section.get("high"), 0.0, 1.0)
    if low > high:
        check.fail(f"{field}", "a band with low <= high", [low, high])


def _figures(check: _Checker, field: str, entry, ranges: dict) -> None:
    """A dict of figures: each known one a number in its range, or null (undefined)."""
    check.object(field, entry)
    for key, (low, high) in ranges.items():
        if entry.get(key) is not None:
            check.number(f"{field}.{key}", entry[key], low, high,
                         whole=key == "examples")


def _teacher(check: _Checker, field: str, section) -> None:
    check.object(field, section)
    if "members" in section:
        if section.get("combine") not in TEACHER_COMBINE:
            check.fail(f"{field}.combine", f"one of {', '.join(TEACHER_COMBINE)}",
                       section.get("combine"))
        members = section["members"]
        if not isinstance(members, list) or len(members) < 2:
            check.fail(f"{field}.members", "a list of at least two teachers", members)
        for i, member in enumerate(members):
            _teacher_run(check, f"{field}.members[{i}]", member)
    else:
        _teacher_run(check, field, section)
    for key, low_open in (("distill_alpha", False), ("distill_temperature", True)):
        if section.get(key) is not None:
            high = 1.0 if key == "distill_alpha" else 1e6
            check.number(f"{field}.{key}", section[key], 0.0, high, low_open=low_open)
    for split, entry in check.object(f"{field}.agreement", section.get("agreement", {})).items():
        _figures(check, f"{field}.agreement.{split}", entry, AGREEMENT)
    for name, by_split in check.object(f"{field}.agreement_by_source",
                                       section.get("agreement_by_source", {})).items():
        for split, entry in check.object(f"{field}.agreement_by_source.{name}",
                                         by_split).items():
            _figures(check, f"{field}.agreement_by_source.{name}.{split}", entry, AGREEMENT)


def _teacher_run(check: _Checker, field: str, section) -> None:
    """One teacher run: its folder, checkpoint, sha256, model, size and own figures."""
    check.object(field, section)
    check.string(f"{field}.run", section.get("run"))
    if section.get("checkpoint") not in TEACHER_CHECKPOINTS:
        check.fail(f"{field}.checkpoint", f"one of {', '.join(TEACHER_CHECKPOINTS)}",
                   section.get("checkpoint"))
    check.sha256(f"{field}.sha256", section.get("sha256"))
    if "model" in section:
        check.string(f"{field}.model", section["model"])
    if "image_size" in section:
        check.number(f"{field}.image_size", section["image_size"], *IMAGE_SIZES, whole=True)
    if "validation" in section:
        _figures(check, f"{field}.validation", section["validation"], FIGURES)
    for name, entry in check.object(f"{field}.validation_by_source",
                                    section.get("validation_by_source", {})).items():
        _figures(check, f"{field}.validation_by_source.{name}", entry, FIGURES)


def _artifact(check: _Checker, field: str, entry) -> None:
    check.object(field, entry)
    for key in ("kind", "precision"):
        if key in entry:
            check.string(f"{field}.{key}", entry[key])
    if "sha256" in entry:
        check.sha256(f"{field}.sha256", entry["sha256"])
    if "bytes" in entry:
        check.number(f"{field}.bytes", entry["bytes"], 0, 2 ** 40, whole=True)
    if GATE in entry:
        gate = check.object(f"{field}.{GATE}", entry[GATE])
        if gate.get("status") not in GATE_STATUSES:
            check.fail(f"{field}.{GATE}.status", f"one of {', '.join(GATE_STATUSES)}",
                       gate.get("status"))
        failures = gate.get("failures", [])
        if not isinstance(failures, list) or not all(isinstance(f, str) for f in failures):
            check.fail(f"{field}.{GATE}.failures", "a list of strings", failures)
    if THRESHOLDS in entry:
        _thresholds(check, f"{field}.{THRESHOLDS}", entry[THRESHOLDS])
    if P_FAKE_CALIBRATION in entry:
        _calibration(check, f"{field}.{P_FAKE_CALIBRATION}", entry[P_FAKE_CALIBRATION])
    if UNCERTAIN in entry:
        _band(check, f"{field}.{UNCERTAIN}", entry[UNCERTAIN])


def _face_detector(check: _Checker, section) -> None:
    where = FACE_DETECTOR
    check.object(where, section)
    check.file_name(f"{where}.file", section.get("file"))
    if "sha256" in section:
        check.sha256(f"{where}.sha256", section["sha256"])
    size = check.numbers(f"{where}.input_size", section.get("input_size"), (2, 2), 16, 1024,
                         whole=True)
    value_range = check.numbers(f"{where}.input.value_range",
                                check.object(f"{where}.input", section.get("input"))
                                .get("value_range"), (2, 2), -1e6, 1e6)
    if value_range[0] >= value_range[1]:
        check.fail(f"{where}.input.value_range", "[low, high] with low < high", value_range)
    anchors = check.object(f"{where}.anchors", section.get("anchors"))
    layers = check.number(f"{where}.anchors.num_layers", anchors.get("num_layers"), 1, 16,
                          whole=True)
    strides = check.numbers(f"{where}.anchors.strides", anchors.get("strides"), (1, 16), 1,
                            1024, whole=True)
    if len(strides) != layers:
        check.fail(f"{where}.anchors.strides", f"{layers} strides, one per layer", strides)
    check.numbers(f"{where}.anchors.input_size", anchors.get("input_size", size), (2, 2), 16,
                  1024, whole=True)
    for key in ("min_scale", "max_scale"):
        check.number(f"{where}.anchors.{key}", anchors.get(key), 0.0, 10.0, low_open=True)
    for key in ("anchor_offset_x", "anchor_offset_y"):
        check.number(f"{where}.anchors.{key}", anchors.get(key), 0.0, 1.0)
    check.numbers(f"{where}.anchors.aspect_ratios", anchors.get("aspect_ratios"), (1, 8),
                  0.0, 100.0, low_open=True)
    check.number(f"{where}.anchors.interpolated_scale_aspect_ratio",
                 anchors.get("interpolated_scale_aspect_ratio", 1.0), 0.0, 100.0)
    check.boolean(f"{where}.anchors.fixed_anchor_size", anchors.get("fixed_anchor_size", False))
    decoding = check.object(f"{where}.decoding", section.get("decoding"))
    check.number(f"{where}.decoding.num_boxes", decoding.get("num_boxes"), 1, 100000, whole=True)
    check.number(f"{where}.decoding.num_keypoints", decoding.get("num_keypoints"), 0, 64,
                 whole=True)
    for key in ("x_scale", "y_scale", "w_scale", "h_scale", "score_clipping_thresh"):
        check.number(f"{where}.decoding.{key}", decoding.get(key), 0.0, 1e6, low_open=True)
    check.number(f"{where}.decoding.min_score_thresh", decoding.get("min_score_thresh"), 0.0, 1.0)
    nms = check.object(f"{where}.nms", section.get("nms"))
    check.number(f"{where}.nms.min_suppression_threshold", nms.get("min_suppression_threshold"),
                 0.0, 1.0)
    crop = check.object(f"{where}.crop", section.get("crop"))
    check.number(f"{where}.crop.side_over_box", crop.get("side_over_box"), 0.0, 100.0,
                 low_open=True)
    check.numbers(f"{where}.crop.center_offset", crop.get("center_offset"), (2, 2), -10.0, 10.0)
    if "accept_score" in section:
        check.number(f"{where}.accept_score", section["accept_score"], 0.0, 1.0)


def artifact(card: dict, model_path: str) -> dict:
    """The card's entry for this model file ({} when the card does not list it)."""
    return card.get(ARTIFACTS, {}).get(os.path.basename(model_path), {})


def check_model_file(model_path: str, card: dict) -> None:
    """CardError unless `model_path` is a file the card could describe as a classifier:
    not missing, not a folder (`saved_model/` is TensorFlow's, not the device's), not the
    bundle's face detector, and, when the card records its sha256, that very file (a copy
    cut short or another model under the name fails here, before the interpreter)."""
    if os.path.isdir(model_path):
        raise CardError(f"{model_path} is a folder; give a .tflite file of the bundle "
                        f"(model_int8.tflite, model_float16.tflite or model_float32.tflite)")
    if not os.path.isfile(model_path):
        raise CardError(f"model file {model_path} does not exist")
    name = os.path.basename(model_path)
    if card.get(FACE_DETECTOR) and card[FACE_DETECTOR].get("file") == name:
        classifiers = sorted(n for n in card.get(ARTIFACTS, {}) if n.endswith(".tflite"))
        raise CardError(f"{model_path} is the bundle's face detector, not a dfd classifier: "
                        f"give {' or '.join(classifiers) or 'a classifier .tflite'}")
    entry = artifact(card, model_path)
    if entry.get("kind") not in (None, "tflite"):
        raise CardError(f"{model_path}: model.json lists it as a {entry['kind']}, not a "
                        f".tflite classifier")
    if "bytes" in entry and os.path.getsize(model_path) != entry["bytes"]:
        raise CardError(f"{model_path} is {os.path.getsize(model_path)} bytes but model.json "
                        f"records {entry['bytes']}: a damaged or partial copy, or another "
                        f"model under this name")
    if "sha256" in entry and sha256_file(model_path) != entry["sha256"]:
        raise CardError(f"{model_path} does not match its sha256 in model.json: a damaged "
                        f"copy, or another model under this name")


def gate_problem(card: dict, model_path: str) -> str | None:
    """Why the export's gate did not pass this artifact, with the gate's figures; None
    when it passed or the card records no gate for it (an export from before gates)."""
    gate = artifact(card, model_path).get(GATE)
    if gate is None or gate["status"] == "passed":
        return None
    name = os.path.basename(model_path)
    if gate["status"] == "pending":
        return (f"{name} was never judged by the export's gate (the export stopped before "
                f"its parity check)")
    return f"{name} failed the export's gate: " + "; ".join(
        gate.get("failures") or ["no reason recorded"])
