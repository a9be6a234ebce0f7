"""model.json: what a device needs to know about the files beside it, and where they came from.

The edge runtime reads the preprocessing contract and, per .tflite file, its P(fake)
calibration, named thresholds and uncertain band from here; a person reads
which data the model learned from, how well it did, and checksums to tell a copied file
from a damaged one.
"""

from __future__ import annotations

import json
import math
import os

import dfd
from dfd.common import atomic
from dfd.common import card as card_schema
from dfd.common import spec
from dfd.common.card import (ARTIFACTS, GATE, P_FAKE_CALIBRATION, PREPROCESSING, THRESHOLDS,
                             UNCERTAIN)
from dfd.common.checksums import sha256_file, sha256_tree


def tree_size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(folder, name))
               for folder, _, names in os.walk(path) for name in names)


def artifact_entry(path: str, precision: str, kind: str) -> dict:
    entry = {"kind": kind, "precision": precision, "bytes": tree_size(path)}
    if os.path.isfile(path):
        entry["sha256"] = sha256_file(path)
    else:
        entry["sha256"] = sha256_tree(path)
        entry["sha256_of"] = ("every file: sha256 of sha256sum's lines for the files, paths "
                              "relative and sorted bytewise (dfd.common.checksums.sha256_tree)")
    return entry


def build(config: dict, report: dict, artifacts: dict[str, dict]) -> dict:
    """The card for a run's config.json, its metrics.json and the written artifacts."""
    validation = report.get("splits", {}).get(config.get("eval_split", "validation"), {})
    thresholds = {"default": 0.5}
    if "eer_threshold" in validation:
        thresholds["eer_validation"] = validation["eer_threshold"]
    if "saved_model" in artifacts:  # its raw P(fake); each .tflite gets its own, calibrated
        artifacts["saved_model"][THRESHOLDS] = thresholds
    card = {
        "model": config["model"],
        "dfd_version": dfd.__version__,
        "output": "p_fake",
        "labels": list(spec.LABELS),
        "label_of_positive_class": spec.FAKE_LABEL,
        PREPROCESSING: spec.describe(config["image_size"]),
        "p_fake": ("each .tflite file's P(fake) is calibrated on validation with its own "
                   f"fit (artifacts.<file>.{P_FAKE_CALIBRATION}), which the device runtime "
                   f"applies; its {THRESHOLDS} and {UNCERTAIN} band are in the same entry. "
                   "The SavedModel answers the raw P(fake)."),
        "training": {
            "dataset": config["dataset"],
            "data_dir": config["data_dir"],
            "sources": config.get("sources", []),
            "metrics_by_source": {name: entry.get("splits", {})
                                  for name, entry in report.get("sources", {}).items()},
            "train_split": config.get("train_split"),
            "selected_on": config.get("eval_split"),
            "checkpoint": report.get("checkpoint"),
            "metrics": report.get("splits", {}),
        },
        ARTIFACTS: artifacts,
    }
    if config.get("teacher_run"):
        card["training"]["teacher"] = teacher_entry(config, report)
    return card


def _finite(value):
    """`value` with every non-finite float inside it as None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def teacher_entry(config: dict, report: dict) -> dict:
    """A distilled student's teacher as its config.json recorded it (run folder, checkpoint,
    its sha256, the sources it trained on, its own validation figures for their union and
    each) with the distillation settings and the student's agreement with it
    (metrics.json's `teacher`, dfd.evaluate.agreement): for the union of the student's
    sources and for each source."""
    recorded = report.get("teacher", {})
    return _finite({
        **config["teacher_run"],
        "distill_alpha": config.get("distill_alpha"),
        "distill_temperature": config.get("distill_temperature"),
        "agreement": {split: entry["agreement"]
                      for split, entry in recorded.get("splits", {}).items()},
        "agreement_by_source": {
            name: {split: entry["agreement"] for split, entry in by_split.items()}
            for name, by_split in recorded.get("sources", {}).items()}})


def record_gate(card: dict, name: str, verdict: dict | None) -> None:
    """Puts the export gate's verdict on artifact `name` (`dfd.common.card.GATE`): None
    marks it "pending", written before the parity check so that an export stopped between
    the two leaves a bundle the device refuses instead of one that looks judged."""
    if verdict is None:
        card[ARTIFACTS][name][GATE] = {"status": "pending", "failures": []}
    else:
        figures = {key: (None if isinstance(value, float) and not math.isfinite(value)
                         else value) for key, value in verdict.items()}
        card[ARTIFACTS][name][GATE] = {
            **figures, "status": "passed" if verdict["passed"] else "failed"}


def write(path: str, card: dict) -> None:
    """Writes the card after the same check every device program runs on it, so the export
    can never leave a card the device refuses to read. Replaced atomically: a reader never
    sees half a card."""
    card_schema.validate(card, path)
    atomic.write_text(path, json.dumps(card, indent=2, sort_keys=True, allow_nan=False))
