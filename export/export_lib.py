"""The export library behind `python -m dfd.export` (`export/__main__.py` parses the flags):
a trained run folder in, a device bundle out (SavedModel, .tflite files, model.json, golden
vectors, the face detector, parity and robustness reports)."""

from __future__ import annotations

import itertools
import json
import os
import sys

import numpy as np
from absl import logging

from dfd.common import spec
from dfd.evaluate import run_folder
from dfd.evaluate.report import source_images
from dfd.lite.detector import Detector
from dfd.lite.kernels import GOLDEN
from dfd.train import pipeline, sources as sources_lib
from dfd.export import (face_detector, golden, model_card, parity, saved_model,
                        tflite)

SAVED_MODEL = "saved_model"
PARITY = "parity.json"
BYTES_CHECK_EXAMPLES = 16
"""Encoded test images also sent through the bytes signature, to prove both signatures agree."""
GOLDEN_REAL_IMAGES = 2
"""Images taken from each of the calibration and the parity split into the golden vectors."""


def tflite_name(precision: str) -> str:
    return f"model_{precision}.tflite"


def source_pairs(config: dict) -> list[tuple[str, str]]:
    """(name, data_dir) of every source the run (or the export's --data_dir) names."""
    return [(s.name, s.data_dir) for s in sources_lib.from_config(config)]


def pixel_batches(config: dict, split: str, batch_size: int = 64):
    """The split of every source, source after source, in file order."""
    cfg = pipeline.PipelineConfig(image_size=config["image_size"], batch_size=batch_size,
                                  cache="none", augment=())
    return pipeline.union_dataset(source_pairs(config), split, cfg, dataset=config["dataset"])


def calibration_images(config: dict, count: int):
    """A callable yielding `count` train-split images, as the converter asks for them:
    taken from the sources in turn, so the int8 ranges see every source's pixels."""
    cfg = pipeline.PipelineConfig(image_size=config["image_size"], batch_size=64,
                                  cache="none", augment=())

    def images():
        ds = pipeline.round_robin_dataset(source_pairs(config), config.get("train_split", "train"),
                                          cfg, dataset=config["dataset"])
        for batch, _ in ds:
            for image in batch.numpy():
                yield image
    return lambda: itertools.islice(images(), count)


def first_images(config: dict, split: str, count: int) -> list[tuple[str, np.ndarray]]:
    """(source, pixels) of the split's first `count` images, in the pipeline's order."""
    found = []
    for batch, _ in pixel_batches(config, split, batch_size=count):
        found += [(f"{split} split image {i}", image) for i, image in enumerate(batch.numpy())]
        break
    return found[:count]


GATED_PRECISIONS = ("float16", "int8")
"""The .tflite files the export's gate judges (the int8 gate's tolerances, for float16 too):
each gets its verdict in model.json (`dfd.common.card.GATE`) and the device refuses a file
whose gate failed or never ran (issue 22, section 4)."""


def measure_parity(config: dict, out: str, split: str, confident_margin: float = 0.25) -> dict:
    """Streams the split once: SavedModel on each batch, every .tflite on each image (the
    files are still "pending" in model.json: this is what judges them)."""
    signatures = saved_model.load_signatures(os.path.join(out, SAVED_MODEL))
    serve = signatures[saved_model.IMAGES_SIGNATURE]
    detectors = {p: Detector(os.path.join(out, tflite_name(p)), allow_failed_gate=True)
                 for p in tflite.PRECISIONS}
    labels, reference, scores = [], [], {p: [] for p in tflite.PRECISIONS}
    for images, batch_labels in pixel_batches(config, split):
        labels.append(batch_labels.numpy())
        reference.append(serve(images=images)["p_fake"].numpy())
        for precision, detector in detectors.items():
            scores[precision] += [detector.p_fake_pixels(image) for image in images.numpy()]
    reference = np.concatenate(reference).astype(np.float64)
    result = parity.report(split, np.concatenate(labels), reference,
                           {p: np.array(s, np.float64) for p, s in scores.items()},
                           confident_margin=confident_margin)
    result["bytes_signature_max_abs_p_difference"] = bytes_signature_difference(
        config, signatures, split, reference)
    return result


def bytes_signature_difference(config: dict, signatures: dict, split: str,
                               reference: np.ndarray) -> float:
    """The bytes signature on the stored encoded images vs the images signature's answers."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    found = pipeline.builder(source_pairs(config)[0][1], config["dataset"])  # reference's first
    raw = found.as_dataset(split, shuffle_files=False,
                             decoders={"image": tfds.decode.SkipDecoding()})
    encoded = [ex["image"] for ex in itertools.islice(tfds.as_numpy(raw), BYTES_CHECK_EXAMPLES)]
    answers = signatures[saved_model.BYTES_SIGNATURE](image_bytes=tf.constant(encoded))
    return float(np.max(np.abs(answers["p_fake"].numpy() - reference[:len(encoded)])))


ROBUSTNESS = "robustness.json"
ROBUSTNESS_PRECISIONS = ("float32", "int8")
"""The device files the robustness suite judges (float16 answers as float32 does)."""


def scorer(detector: Detector):
    """A uint8 (N, S, S, 3) batch -> P(fake) array, as the device scores each image."""
    return lambda batch: np.array([detector.p_fake_pixels(image) for image in batch])


def device_robustness(config: dict, out: str, split: str, suite: str) -> dict:
    """The robustness suite (dfd.evaluate.robustness) for the exported .tflite files, each run by
    dfd's edge runtime exactly as a device runs it, at the model card's default threshold.
    Writes robustness.json and robustness.png into the bundle."""
    from dfd.evaluate import robustness
    from dfd.common import preprocess

    size = config["image_size"]
    detectors = {precision: Detector(os.path.join(out, tflite_name(precision)),
                                     allow_failed_gate=True)
                 for precision in ROBUSTNESS_PRECISIONS}
    reports = robustness.score_suites(
        itertools.chain.from_iterable(source_images(data_dir, config["dataset"], split)
                                      for _, data_dir in source_pairs(config)),
        robustness.SUITES[suite],
        lambda rgb: preprocess.preprocess(rgb, size),
        {precision: scorer(detector) for precision, detector in detectors.items()},
        {precision: detector.threshold for precision, detector in detectors.items()})
    result = {"split": split, "suite": suite, "tflite": reports}
    with open(os.path.join(out, ROBUSTNESS), "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    robustness.write_chart(os.path.join(out, "robustness.png"), reports)
    for precision, report in reports.items():
        print(f"{precision}: " + robustness.summary_lines(split, report)[0])
    return result


def float32_twin(model, config: dict):
    """The same network computing in float32, for a run trained under mixed precision.

    Its layers keep their mixed_float16 policy when loaded, and a float16 graph converts
    to TFLite ops the builtins lack (or to an int8 file calibrated on float16 rounding),
    so the export rebuilds the architecture in float32 and copies the weights, which
    mixed precision keeps in float32 anyway: nothing is lost.
    """
    if config.get("precision", "float32") == "float32":
        return model
    import keras

    from dfd.train import models
    keras.mixed_precision.set_global_policy("float32")
    twin = models.build(config["model"], config["image_size"], config["dropout"])
    twin.set_weights(model.get_weights())
    return twin


def export_workdir(workdir: str, out: str, calibration_examples: int = 300,
                   parity_split: str = "test", gate: parity.Int8Gate = parity.Int8Gate(),
                   robustness_suite: str = "none", data_dirs: list[str] | None = None,
                   faces: str = "full_range") -> dict:
    """Writes every artifact, model.json and parity.json; returns the parity report.

    `data_dirs` replace the run's own data dirs one for one (the data moved). Raises
    parity.ParityError (after writing, each failed file recorded "failed" in model.json, so
    the device refuses it) when the gate fails int8 or float16, tflite.ExportError before
    writing any .tflite when the model needs non-builtin ops, and pipeline.SplitError before
    writing anything when --parity_split is not in the data, and
    face_detector.FaceDetectorError before writing anything when `faces` cannot be found.
    """
    config = run_folder.load_config(workdir, data_dirs)
    found = run_folder.moved_sources(config, data_dirs)
    config = {**config, "sources": sources_lib.describe(found),
              "data_dir": [s.data_dir for s in found]}
    for source in found:
        pipeline.require_splits(source.data_dir, config["dataset"], "parity_split",
                                [parity_split])
    model, checkpoint = run_folder.load_model(workdir)
    model = float32_twin(model, config)
    metrics_path = os.path.join(workdir, "metrics.json")
    report = {}
    if os.path.exists(metrics_path):
        with open(metrics_path) as f:
            report = json.load(f)
    report.setdefault("checkpoint", checkpoint)
    size = config["image_size"]
    if faces != "none":
        face_detector.locate(faces)  # fail before the slow conversions, not after
    os.makedirs(out, exist_ok=True)

    flatbuffers = {p: tflite.convert(model, size, p, calibration_images(
        config, calibration_examples) if p == "int8" else None) for p in tflite.PRECISIONS}
    saved_model.write_saved_model(model, size, os.path.join(out, SAVED_MODEL))
    artifacts = {SAVED_MODEL: model_card.artifact_entry(
        os.path.join(out, SAVED_MODEL), "float32", "saved_model")}
    for precision, flatbuffer in flatbuffers.items():
        path = os.path.join(out, tflite_name(precision))
        with open(path, "wb") as f:
            f.write(flatbuffer)
        artifacts[tflite_name(precision)] = model_card.artifact_entry(path, precision, "tflite")
    card = model_card.build(config, report, artifacts)
    card[GOLDEN] = golden.record(
        out, [os.path.join(out, tflite_name(p)) for p in tflite.PRECISIONS], size,
        first_images(config, config.get("train_split", "train"), GOLDEN_REAL_IMAGES)
        + first_images(config, parity_split, GOLDEN_REAL_IMAGES))
    card["calibration"] = {"split": config.get("train_split", "train"),
                           "examples": calibration_examples}
    detector_entry = face_detector.bundle(faces, out)
    if detector_entry is not None:
        card[face_detector.CARD_KEY] = detector_entry
    for precision in GATED_PRECISIONS:
        model_card.record_gate(card, tflite_name(precision), None)
    card_path = os.path.join(out, spec.MODEL_CARD)
    model_card.write(card_path, card)

    result = measure_parity(config, out, parity_split, gate.confident_margin)
    result["gates"] = {p: parity.judge_int8(result, gate, name=p) for p in GATED_PRECISIONS}
    result["int8_gate"] = result["gates"]["int8"]
    for precision, verdict in result["gates"].items():
        model_card.record_gate(card, tflite_name(precision), verdict)
    model_card.write(card_path, card)
    with open(os.path.join(out, PARITY), "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    for line in parity.summary_lines(result):
        print(line)
    for name, entry in card[GOLDEN]["outputs"].items():
        print(f"golden vectors for {name}: XNNPACK here differs from the reference kernels by "
              f"{entry['xnnpack_at_export_max_difference']:.3g}; a device allows "
              f"{entry['tolerance']:g} ({entry['unit']})")
    if robustness_suite != "none":
        device_robustness(config, out, parity_split, robustness_suite)
    parity.check_gates(result["gates"])
    return result
