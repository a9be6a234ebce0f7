"""model.json's one check (`dfd.common.card`): every damaged card is one line naming the
file and the field (issue 25, case 7; issue 22, section 4)."""

import copy
import hashlib
import json

import pytest

from dfd.common import card, spec
from dfd.lite.faces import ACCEPT_SCORE, settings
from dfd.lite.faces.crop import CROP


def valid_card() -> dict:
    """A card with every section the export writes, in the export's shapes."""
    return {
        "model": "dfdnet", "dfd_version": "0", "output": "p_fake",
        card.PREPROCESSING: spec.describe(32),
        card.THRESHOLDS: {"default": 0.5, "eer_validation": 0.41},
        card.ARTIFACTS: {"model_int8.tflite": {"kind": "tflite", "precision": "int8",
                                               "bytes": 10, "sha256": "a" * 64,
                                               card.GATE: {"status": "passed",
                                                           "failures": []},
                                               card.P_FAKE_CALIBRATION: {
                                                   "method": "platt", "a": 0.8, "b": -0.1,
                                                   "clip": 1 / 512, "fitted_on": ["validation"]},
                                               card.THRESHOLDS: {"default": 0.5,
                                                                 "fpr_1pct": 0.93},
                                               card.UNCERTAIN: {"low": 0.41, "high": 0.59,
                                                                "coverage": 0.1}}},
        card.FACE_DETECTOR: {"file": "face_detection_full_range_sparse.tflite",
                             "sha256": "b" * 64, **settings.describe("full_range"),
                             "crop": dict(CROP), "accept_score": ACCEPT_SCORE},
        card.GOLDEN: {"inputs": {"file": "golden_inputs.npy", "sha256": "c" * 64},
                      "outputs": {}},
        card.TRAINING: {"dataset": "deepfake_real_images", "teacher": teacher_entry()},
    }


def teacher_entry() -> dict:
    """A distilled student's training.teacher as export/model_card.py writes it."""
    agreement = {"examples": 40, "teacher_fake_share": 0.5, "auc_vs_teacher_decisions": 0.9,
                 "mean_abs_difference": 0.1, "same_decision": 0.85}
    return {"run": "/runs/teacher", "checkpoint": "best.keras", "sha256": "d" * 64,
            "model": "efficientnet_lite0", "image_size": 128, "selected_on": "validation",
            "sources": ["a", "b"], "distill_alpha": 0.5, "distill_temperature": 2.0,
            "validation": {"auc": 0.8, "accuracy": 0.7, "eer": 0.25, "loss": 0.5,
                           "examples": 40},
            "validation_by_source": {"a": {"auc": None, "examples": 20}, "b": {"auc": 0.9}},
            "agreement": {"validation": agreement},
            "agreement_by_source": {"a": {"validation": {**agreement, "examples": 20,
                                                         "auc_vs_teacher_decisions": None}}}}


def test_the_export_shaped_card_passes():
    assert card.validate(valid_card()) == valid_card()


def ensemble_card() -> dict:
    """A student distilled from two teachers: `combine` and each member as one teacher."""
    ensemble = valid_card()
    one = teacher_entry()
    member = {k: one[k] for k in ("run", "checkpoint", "sha256", "model", "image_size",
                                  "selected_on", "sources", "validation",
                                  "validation_by_source")}
    ensemble[card.TRAINING]["teacher"] = {
        "combine": "max", "members": [member, {**member, "run": "/runs/other"}],
        "image_size": 128, "model": "max(efficientnet_lite0, efficientnet_lite0)",
        "sources": ["a", "b"], **{k: one[k] for k in ("distill_alpha", "distill_temperature",
                                                        "agreement", "agreement_by_source")}}
    return ensemble


def test_an_ensemble_teachers_card_passes_and_each_member_is_checked():
    assert card.validate(ensemble_card()) == ensemble_card()
    for change, field in (
            (lambda t: t.update(combine="min"), "training.teacher.combine must be one of max"),
            (lambda t: t.update(members=t["members"][:1]), "training.teacher.members must be"),
            (lambda t: t["members"][1].update(sha256="abc"),
             r"training.teacher.members\[1\].sha256 must be a sha256"),
            (lambda t: t["agreement"]["validation"].update(same_decision=2),
             "training.teacher.agreement.validation.same_decision")):
        broken = ensemble_card()
        change(broken[card.TRAINING]["teacher"])
        with pytest.raises(card.CardError, match=field):
            card.validate(broken)


@pytest.mark.parametrize("text,message", [
    ("null", "a model card is a JSON object, not null"),
    ("[1, 2]", "a model card is a JSON object, not list"),
    ('"model"', "a model card is a JSON object, not str"),
    ("3", "a model card is a JSON object, not int"),
    ("{", "not valid JSON"),
    ('{"preprocessing": {"image_size": NaN}}', "not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "nested more than 32 deep"),
    ('{"x": "' + "[" * 1000 + '", "preprocessing": {"image_size": 32}}', None),
])
def test_what_is_not_a_json_object_is_one_line(tmp_path, text, message):
    path = tmp_path / "model.json"
    path.write_text(text)
    if message is None:  # brackets inside a string are not nesting
        assert card.load(str(path))["x"].startswith("[[")
        return
    with pytest.raises(card.CardError, match=message) as error:
        card.load(str(path))
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


def test_a_card_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "model.json"
    path.write_bytes(b'{"model": "\xff\xfe"}')
    with pytest.raises(card.CardError, match="not UTF-8"):
        card.load(str(path))


def mutate(keys, value):
    mutated = valid_card()
    target = mutated
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return mutated


@pytest.mark.parametrize("keys,value,field", [
    (["preprocessing"], None, "preprocessing must be an object"),
    (["preprocessing", "image_size"], "32", "preprocessing.image_size must be a whole"),
    (["preprocessing", "image_size"], 0, "preprocessing.image_size must be a whole"),
    (["preprocessing", "image_size"], 32.5, "preprocessing.image_size"),
    (["preprocessing", "image_size"], True, "preprocessing.image_size"),
    (["thresholds"], [0.5], "thresholds must be an object"),
    (["thresholds", "default"], 7, "thresholds.default must be a number from 0 to 1"),
    (["thresholds", "default"], "0.5", "thresholds.default"),
    (["thresholds", "default"], None, "thresholds.default"),
    (["artifacts", "model_int8.tflite"], "x", "artifacts.model_int8.tflite must be an object"),
    (["artifacts", "model_int8.tflite", "sha256"], "zz", "sha256 \\(64 lowercase"),
    (["artifacts", "model_int8.tflite", "bytes"], -1, "bytes must be a whole"),
    (["artifacts", "model_int8.tflite", "gate", "status"], "maybe", "gate.status must be"),
    (["artifacts", "model_int8.tflite", "gate", "failures"], "x", "gate.failures"),
    (["artifacts", "model_int8.tflite", "p_fake_calibration"], [1], "calibration must be an "
     "object"),
    (["artifacts", "model_int8.tflite", "p_fake_calibration", "method"], "isotonic",
     "calibration.method must be one of platt, none"),
    (["artifacts", "model_int8.tflite", "p_fake_calibration", "a"], "1",
     "calibration.a must be a number above 0"),
    (["artifacts", "model_int8.tflite", "p_fake_calibration", "a"], -1.0,
     "calibration.a must be a number above 0"),
    (["artifacts", "model_int8.tflite", "p_fake_calibration", "a"], 0,
     "calibration.a must be a number above 0"),
    (["artifacts", "model_int8.tflite", "p_fake_calibration", "b"], float("nan"),
     "calibration.b must be a number"),
    (["artifacts", "model_int8.tflite", "p_fake_calibration", "b"], None,
     "calibration.b must be a number"),
    (["artifacts", "model_int8.tflite", "p_fake_calibration", "clip"], 0.5,
     "calibration.clip must be a number above 0 up to 0.5 \\(not included\\)"),
    (["artifacts", "model_int8.tflite", "p_fake_calibration", "clip"], 0,
     "calibration.clip"),
    (["artifacts", "model_int8.tflite", "thresholds", "fpr_1pct"], 1.5,
     "artifacts.model_int8.tflite.thresholds.fpr_1pct must be a number from 0 to 1"),
    (["artifacts", "model_int8.tflite", "thresholds"], {"no-dash": 0.5},
     "artifacts.model_int8.tflite.thresholds must be named by letters"),
    (["artifacts", "model_int8.tflite", "uncertain"], "0.4,0.6", "uncertain must be an object"),
    (["artifacts", "model_int8.tflite", "uncertain", "low"], -0.1,
     "uncertain.low must be a number from 0 to 1"),
    (["artifacts", "model_int8.tflite", "uncertain", "high"], None,
     "uncertain.high must be a number from 0 to 1"),
    (["artifacts", "model_int8.tflite", "uncertain", "high"], 0.3,
     "uncertain must be a band with low <= high"),
    (["face_detector"], 3, "face_detector must be an object"),
    (["face_detector", "file"], "../../etc/passwd", "face_detector.file must be a file name"),
    (["face_detector", "file"], None, "face_detector.file must be a string"),
    (["face_detector", "anchors", "strides"], [0], "strides\\[0\\] must be a whole number"),
    (["face_detector", "anchors", "strides"], [4, 4], "1 strides, one per layer"),
    (["face_detector", "anchors", "num_layers"], 0, "num_layers must be a whole"),
    (["face_detector", "anchors", "aspect_ratios"], [], "aspect_ratios must be a list"),
    (["face_detector", "crop", "side_over_box"], float("nan"), "crop.side_over_box"),
    (["face_detector", "crop"], None, "face_detector.crop must be an object"),
    (["face_detector", "input_size"], [192], "input_size must be a list of 2"),
    (["face_detector", "input", "value_range"], [1, -1], "low < high"),
    (["face_detector", "decoding", "num_keypoints"], -6, "num_keypoints"),
    (["face_detector", "decoding", "x_scale"], 0, "x_scale must be a number above 0"),
    (["face_detector", "nms", "min_suppression_threshold"], 2, "min_suppression_threshold"),
    (["face_detector", "accept_score"], "high", "accept_score"),
    (["model"], 5, "model must be a string"),
    (["training"], [], "training must be an object"),
    (["training", "teacher"], "run", "training.teacher must be an object"),
    (["training", "teacher", "sha256"], "abc", "training.teacher.sha256 must be a sha256"),
    (["training", "teacher", "checkpoint"], "../x.keras", "training.teacher.checkpoint must be"),
    (["training", "teacher", "run"], None, "training.teacher.run must be a string"),
    (["training", "teacher", "distill_alpha"], 1.5, "training.teacher.distill_alpha"),
    (["training", "teacher", "distill_temperature"], 0, "distill_temperature must be a number "
                                                       "above 0"),
    (["training", "teacher", "validation", "auc"], 2.0, "training.teacher.validation.auc"),
    (["training", "teacher", "validation_by_source", "a"], 1, "validation_by_source.a must be"),
    (["training", "teacher", "agreement", "validation", "mean_abs_difference"], -0.1,
     "training.teacher.agreement.validation.mean_abs_difference"),
    (["training", "teacher", "agreement_by_source", "a", "validation", "same_decision"], "1",
     "agreement_by_source.a.validation.same_decision"),
])
def test_wrong_typed_or_impossible_fields_are_named(keys, value, field):
    with pytest.raises(card.CardError, match=field) as error:
        card.validate(mutate(keys, value), "/b/model.json")
    assert str(error.value).startswith("/b/model.json: ")


def test_a_declined_calibration_needs_no_slope():
    declined = valid_card()
    declined["artifacts"]["model_int8.tflite"][card.P_FAKE_CALIBRATION] = {
        "method": "none", "clip": 1e-7, "note": "not fitted: 3 fakes and 0 reals"}
    assert card.validate(copy.deepcopy(declined)) == declined
    declined["artifacts"]["model_int8.tflite"][card.P_FAKE_CALIBRATION]["note"] = 7
    with pytest.raises(card.CardError, match="calibration.note must be a string"):
        card.validate(declined)


def test_fields_this_version_does_not_know_are_left_alone():
    newer = {**valid_card(), "calibration_of_p_fake": {"anything": [1, 2]}}
    assert card.validate(copy.deepcopy(newer)) == newer


@pytest.fixture
def bundle(tmp_path):
    model = tmp_path / "model_int8.tflite"
    model.write_bytes(b"0123456789")
    described = valid_card()
    described["artifacts"]["model_int8.tflite"]["sha256"] = hashlib.sha256(
        b"0123456789").hexdigest()
    (tmp_path / "model.json").write_text(json.dumps(described))
    (tmp_path / "face_detection_full_range_sparse.tflite").write_bytes(b"face")
    return tmp_path, described


def test_a_folder_the_face_detector_or_a_damaged_copy_is_not_the_model(bundle):
    folder, described = bundle
    (folder / "saved_model").mkdir()
    cases = {
        folder / "saved_model": "is a folder; give a .tflite file",
        folder / "missing.tflite": "does not exist",
        folder / "face_detection_full_range_sparse.tflite":
            "is the bundle's face detector, not a dfd classifier: give model_int8.tflite",
    }
    for path, message in cases.items():
        with pytest.raises(card.CardError, match=message):
            card.check_model_file(str(path), described)
    card.check_model_file(str(folder / "model_int8.tflite"), described)
    (folder / "model_int8.tflite").write_bytes(b"01234")
    with pytest.raises(card.CardError, match="is 5 bytes but model.json records 10"):
        card.check_model_file(str(folder / "model_int8.tflite"), described)
    (folder / "model_int8.tflite").write_bytes(b"0123456780")
    with pytest.raises(card.CardError, match="does not match its sha256"):
        card.check_model_file(str(folder / "model_int8.tflite"), described)


def test_a_failed_or_pending_gate_is_a_reason_with_the_figures():
    described = valid_card()
    model = "/b/model_int8.tflite"
    assert card.gate_problem(described, model) is None
    entry = described["artifacts"]["model_int8.tflite"]
    entry["gate"] = {"status": "failed", "failures": ["int8 AUC 0.61 is 0.30 below 0.91"]}
    assert card.gate_problem(described, model) == (
        "model_int8.tflite failed the export's gate: int8 AUC 0.61 is 0.30 below 0.91")
    entry["gate"] = {"status": "pending", "failures": []}
    assert "never judged" in card.gate_problem(described, model)
    del entry["gate"]
    assert card.gate_problem(described, model) is None  # exported before gates: runs
