"""Trainer binary: `python -m dfd.train --flagfile=configs/<name>.flags` (also `dfd-train`).

Owns the training flags (model, optimisation, input pipeline, hardware) and hands their
values to `dfd.train.trainer.train_and_evaluate`; the run-folder and robustness flags it
shares with evaluate and export come from `dfd.cli.run_flags`.
"""

from __future__ import annotations

import math
import os
import sys
import types

from absl import app, flags

from dfd.cli import quiet  # first: TensorFlow reads its log level as it loads
from dfd.cli import run_flags

quiet.import_tensorflow()  # a binary, not a library: its C++ start-up lines held back
from dfd.common import spec  # noqa: E402
from dfd.train import (  # noqa: E402
    augment, distill, face_masks, hardware, models, pipeline, sources, trainer)

FLAGS = flags.FLAGS
run_flags.define_run_folder()
run_flags.define_source_names()
run_flags.define_robustness()
flags.DEFINE_list("source_weights", None,
                  "Sampling weight of each --data_dir source, in order (default: equal, so "
                  "each source gets the same share of every batch however many images it "
                  "has); normalised to sum to 1.")
flags.register_validator(
    "source_weights",
    lambda v: v is None or all(_is_positive_number(w) for w in v),
    "--source_weights must be finite numbers > 0, one per --data_dir entry.")

PRETRAINED_MODELS = trainer.PRETRAINED_MODELS


def _is_positive_number(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return value > 0 and value != float("inf")

flags.DEFINE_string("dataset", pipeline.DEFAULT_DATASET, "TFDS dataset name in --data_dir.")
flags.DEFINE_string("train_split", "train", "Split to train on.")
flags.DEFINE_string("eval_split", "validation",
                    "Split that selects checkpoints (never test).")
flags.register_validator(
    "eval_split", lambda v: v != "test",
    "--eval_split must not be test: checkpoints selected on the test split make its "
    "figures optimistic; select on validation and report test.")

flags.DEFINE_enum("model", "efficientnet_lite0", models.names(),
                  "Architecture from dfd.train.models (the default recipe: "
                  "configs/cpu_small.flags).")
flags.DEFINE_integer("image_size", spec.DEFAULT_IMAGE_SIZE, "Model input side in pixels.")
flags.DEFINE_float("dropout", 0.2, "Dropout before the output layer.")
flags.DEFINE_enum("init", None, ["imagenet", "scratch"],
                  "Initial weights: imagenet (from the dfd[pretrained] package; the default "
                  "for efficientnet_lite0/1/2) or scratch (the default for every other model).")
flags.DEFINE_integer("freeze_epochs", 2,
                     "Pretrained models: epochs that train only the head, with the backbone "
                     "and its BatchNorm statistics frozen (inference mode), before "
                     "fine-tuning.")
flags.DEFINE_float("finetune_learning_rate_factor", 0.3,
                   "Pretrained models: after the frozen epochs, every layer trains at "
                   "--learning_rate times this.")
flags.register_validator("image_size", lambda v: 32 <= v <= 512,
                         "--image_size must be between 32 and 512 pixels.")
flags.register_validator("dropout", lambda v: 0 <= v < 1, "--dropout must be in [0, 1).")
flags.register_validator("freeze_epochs", lambda v: v >= 0,
                         "--freeze_epochs must be >= 0.")
flags.register_validator("finetune_learning_rate_factor", lambda v: 0 < v <= 1,
                         "--finetune_learning_rate_factor must be in (0, 1].")
flags.register_multi_flags_validator(
    ["model", "init"],
    lambda v: (trainer.resolved_init(v["model"], v["init"]) == "scratch"
               or v["model"] in PRETRAINED_MODELS),
    f"--init=imagenet needs a model with ImageNet weights: {', '.join(PRETRAINED_MODELS)}.")

flags.DEFINE_integer("batch_size", 64, "Global batch size (split across replicas).")
flags.DEFINE_integer("epochs", 20, "Maximum epochs (early stopping may end sooner).")
flags.DEFINE_enum("optimizer", "adamw", ["adamw", "adam"], "adam = the seed's recipe.")
flags.DEFINE_float("learning_rate", 1e-3, "Peak learning rate.")
flags.DEFINE_enum("lr_schedule", "cosine", ["cosine", "constant"],
                  "cosine = linear warm-up then cosine decay to 0 over all epochs.")
flags.DEFINE_float("warmup_epochs", 0.5, "Warm-up length for the cosine schedule.")
flags.DEFINE_float("weight_decay", 1e-5, "Decoupled weight decay (adamw only).")
flags.DEFINE_float("label_smoothing", 0.0, "Label smoothing for the binary cross-entropy.")
flags.DEFINE_enum("class_weight", "balanced", ["balanced", "none"],
                  "balanced weighs each class by n / (2 n_class) from the builder's counts.")
flags.DEFINE_enum("monitor", "val_auc", ["val_auc", "val_loss"],
                  "Validation figure that picks best.keras and drives early stopping and "
                  "the plateau schedule (val_loss = the seed's recipe).")
flags.DEFINE_integer("early_stopping_patience", 5,
                     "Epochs without a better --monitor value before stopping; 0 = never.")
flags.DEFINE_bool("restore_best_weights", False,
                  "Early stopping puts back the best epoch's weights (final.keras is then "
                  "the best model, as in the seed's recipe).")
flags.DEFINE_integer("plateau_patience", 0,
                     "With --lr_schedule=constant: epochs without a better --monitor value "
                     "before the learning rate is multiplied by --plateau_factor; "
                     "0 = never.")
flags.DEFINE_float("plateau_factor", 0.1, "Learning-rate factor of the plateau schedule.")
flags.DEFINE_float("min_learning_rate", 1e-7, "Floor of the plateau schedule.")
flags.register_validator("batch_size", lambda v: v >= 1, "--batch_size must be at least 1.")
flags.register_validator("epochs", lambda v: v >= 1, "--epochs must be at least 1.")
flags.register_validator("learning_rate", lambda v: 0 < v < 1,
                         "--learning_rate must be in (0, 1).")
flags.register_validator("warmup_epochs", lambda v: v >= 0,
                         "--warmup_epochs must be >= 0.")
flags.register_validator("weight_decay", lambda v: v >= 0, "--weight_decay must be >= 0.")
flags.register_validator("label_smoothing", lambda v: 0 <= v < 0.5,
                         "--label_smoothing must be in [0, 0.5).")
flags.register_validator("early_stopping_patience", lambda v: v >= 0,
                         "--early_stopping_patience must be >= 0.")
flags.register_validator("plateau_patience", lambda v: v >= 0,
                         "--plateau_patience must be >= 0.")
flags.register_validator("plateau_factor", lambda v: 0 < v < 1,
                         "--plateau_factor must be in (0, 1).")
flags.register_validator("min_learning_rate", lambda v: v >= 0,
                         "--min_learning_rate must be >= 0.")
flags.register_multi_flags_validator(
    ["plateau_patience", "lr_schedule"],
    lambda v: not v["plateau_patience"] or v["lr_schedule"] == "constant",
    "--plateau_patience needs --lr_schedule=constant (a cosine schedule owns the rate).")

flags.register_multi_flags_validator(
    ["freeze_epochs", "epochs", "model", "init"],
    lambda v: (trainer.resolved_init(v["model"], v["init"]) == "scratch"
               or v["freeze_epochs"] < v["epochs"]),
    "--freeze_epochs must be smaller than --epochs (fine-tuning needs at least one epoch; "
    "models trained from scratch have no frozen phase).")

flags.DEFINE_list("augment", list(pipeline.DEFAULT_AUGMENT),
                  f"Training augmentations, any of {list(pipeline.AUGMENTATIONS)}; "
                  "empty = none.")
flags.DEFINE_float("degrade_probability", 0.5,
                   "Chance of each of blur, resize and jpeg (when --augment names them).")
flags.DEFINE_integer("jpeg_quality_min", 30, "Lowest JPEG quality of the jpeg augmentation.")
flags.DEFINE_float("blur_sigma_max", 3.0, "Largest Gaussian sigma (pixels at --image_size) "
                   "of the blur augmentation.")
flags.DEFINE_float("resize_scale_min", 0.25, "Smallest down-scale factor of the resize "
                   "augmentation (then resized back up).")
flags.DEFINE_float("self_blend_probability", 0.5,
                   "Chance that self_blend turns a real training image into a fake.")
flags.DEFINE_enum("self_blend_mask", "ellipse", list(face_masks.CHOICES),
                  "Mask of self_blend's whole-face blends: a centred ellipse, or the face's "
                  "outline from MediaPipe's face mesh (the SBI paper's; found once per real "
                  "training image, before the cache; an image without a sure face falls "
                  "back to the ellipse).")
flags.register_multi_flags_validator(
    ["self_blend_mask", "augment"],
    lambda v: v["self_blend_mask"] == "ellipse" or "self_blend" in v["augment"],
    "--self_blend_mask=face_mesh shapes the self_blend augmentation: add self_blend to "
    "--augment.")
flags.DEFINE_bool("self_blend_only", False,
                  "Train on the real training images alone: every fake is a self_blend of "
                  "one (the SBI paper's setting: no generator's or editor's output is ever "
                  "seen, so nothing of one is learnt). Validation keeps every image.")
flags.register_multi_flags_validator(
    ["self_blend_only", "augment", "self_blend_probability"],
    lambda v: not v["self_blend_only"] or (
        "self_blend" in v["augment"] and 0 < v["self_blend_probability"] < 1),
    "--self_blend_only makes every fake with self_blend: --augment must name self_blend and "
    "--self_blend_probability lie strictly between 0 and 1.")
flags.DEFINE_enum("select_on", "fakes", ["fakes", "self_blends"],
                  "What validation judges for the checkpoint choice, early stopping and the "
                  "learning-rate plateau: the --eval_split as built (its reals and fakes), or "
                  "its reals alone, each once as itself and once self-blended by a seed fixed "
                  "per image (what a --self_blend_only run should choose on: it never sees "
                  "the sources' own fakes). The evaluation report judges the split as built "
                  "either way.")
flags.register_multi_flags_validator(
    ["select_on", "augment"],
    lambda v: v["select_on"] == "fakes" or "self_blend" in v["augment"],
    "--select_on=self_blends judges the checkpoints on self_blend's blends: add self_blend "
    "to --augment.")
flags.DEFINE_string("cache", "memory", '"memory", "none", or a file path prefix.')
flags.DEFINE_integer("shuffle_buffer", 10_000, "Shuffle buffer in examples.")
flags.DEFINE_integer("seed", 0, "Seed for initialisation, shuffling and augmentation.")
flags.DEFINE_bool("deterministic", False, "Reproducible op order (slower).")
flags.register_validator("shuffle_buffer", lambda v: v >= 1,
                         "--shuffle_buffer must be at least 1.")
flags.register_validator(
    "augment", lambda v: set(v) <= set(pipeline.AUGMENTATIONS),
    f"--augment may only name {', '.join(pipeline.AUGMENTATIONS)}.")
flags.register_validator("degrade_probability", lambda v: 0 <= v <= 1,
                         "--degrade_probability must be in [0, 1].")
flags.register_validator("self_blend_probability", lambda v: 0 <= v <= 1,
                         "--self_blend_probability must be in [0, 1].")
flags.register_validator("jpeg_quality_min", lambda v: 1 <= v < 100,
                         "--jpeg_quality_min must be in [1, 99].")
flags.register_validator("blur_sigma_max", lambda v: 0.2 <= v <= 8,
                         "--blur_sigma_max must be in [0.2, 8].")
flags.register_validator("resize_scale_min", lambda v: 0.05 <= v < 1,
                         "--resize_scale_min must be in [0.05, 1).")
flags.register_validator(
    "cache", lambda v: v in ("memory", "none") or (
        bool(v) and not v.endswith(os.sep) and not os.path.isdir(v)),
    '--cache must be "memory", "none" or a file prefix such as /fast/disk/cache/run '
    "(not a folder; the folder is created when missing).")

flags.DEFINE_string("data_service", None,
                    "grpc://HOST:PORT of a tf.data service dispatcher "
                    "(python -m dfd.train.data_service): the training input is read, "
                    "decoded and augmented on its workers, each a fixed share of the "
                    "split's files. Evaluation stays local.")
flags.register_multi_flags_validator(
    ["data_service", "cache"],
    lambda v: not v["data_service"] or v["cache"] in ("memory", "none"),
    "--data_service runs the cache on every worker: --cache must be memory or none (a "
    "file prefix would be one file written by all of them).")
flags.DEFINE_list("teacher", None,
                  "A finished dfd.train run folder (its best.keras, else final.keras, and "
                  "config.json) whose model teaches --model (the student) by distillation "
                  "(dfd.train.distill): the teacher runs frozen on each augmented batch. "
                  "Its input size may differ from --image_size, which stays the student's. "
                  "Several folders, comma-separated, teach as one ensemble "
                  "(--teacher_combine); they share one input size.")
flags.DEFINE_enum("teacher_combine", "max", list(distill.COMBINE),
                  "With several --teacher runs: how their logits make the one the student "
                  "learns. max = fake when any teacher says fake (experts on different "
                  "families of fake); mean = their average.")
flags.DEFINE_float("distill_alpha", 0.5,
                   "With --teacher: weight of the teacher's soft targets in the loss, the "
                   "labels' being 1 - alpha (0 = labels alone, 1 = the teacher alone).")
flags.DEFINE_float("distill_temperature", 2.0,
                   "With --teacher: both logits are divided by it before the sigmoid of the "
                   "soft-target term (> 1 softens confident answers, so the student learns "
                   "how sure the teacher is, not only which side).")
flags.register_validator("distill_alpha", lambda v: math.isfinite(v) and 0 <= v <= 1,
                         "--distill_alpha must be in [0, 1].")
flags.register_validator("distill_temperature", lambda v: math.isfinite(v) and v > 0,
                         "--distill_temperature must be a finite number > 0.")

flags.DEFINE_enum("mixed_precision", "auto", ["auto", *hardware.PRECISIONS, "on", "off"],
                  "Keras dtype policy. auto = mixed_bfloat16 on GPUs of compute capability "
                  ">= 8.0 (no loss scaling), mixed_float16 on 7.x (loss-scaled), float32 "
                  "otherwise; on/off = mixed_float16/float32.")
flags.DEFINE_enum("distribution", "auto", ["auto", "default", "mirrored", "multi_worker"],
                  "auto = multi_worker when TF_CONFIG names workers, mirrored on >1 GPU.")


def pipeline_config() -> pipeline.PipelineConfig:
    return pipeline.PipelineConfig(
        image_size=FLAGS.image_size, batch_size=FLAGS.batch_size, cache=FLAGS.cache,
        augment=tuple(FLAGS.augment), shuffle_buffer=FLAGS.shuffle_buffer, seed=FLAGS.seed,
        deterministic=FLAGS.deterministic, data_service=FLAGS.data_service,
        reals_only=FLAGS.self_blend_only,
        augmentation=augment.AugmentConfig(
            probability=FLAGS.degrade_probability,
            blur_sigma=(0.1, FLAGS.blur_sigma_max),
            resize_scale=(FLAGS.resize_scale_min, 1.0),
            jpeg_quality=(FLAGS.jpeg_quality_min, 100),
            self_blend_probability=FLAGS.self_blend_probability,
            self_blend_mask=FLAGS.self_blend_mask))


def training_sources() -> list[sources.Source]:
    """The --data_dir sources, named and weighted, each checked to hold a built dataset with
    the splits the flags name; raises SourceError or SplitError in one line naming it."""
    weights = [float(w) for w in FLAGS.source_weights] if FLAGS.source_weights else None
    found = sources.resolve(FLAGS.data_dir, FLAGS.source_names, weights)
    for source in found:
        sources.check_built(source, FLAGS.dataset)
        for flag in ("train_split", "eval_split"):
            pipeline.require_splits(source.data_dir, FLAGS.dataset, flag, [FLAGS[flag].value])
        if FLAGS["robustness_splits"].present:  # the default names test, which may be absent
            pipeline.require_splits(source.data_dir, FLAGS.dataset, "robustness_splits",
                                    FLAGS.robustness_splits)
    return found


def check_teacher() -> None:
    """Raises TeacherError naming --teacher (or the flag it cannot go with) for a run folder
    that cannot teach, before the workdir exists: missing, without a checkpoint or a
    readable config.json, the --workdir itself, or a checkpoint that does not load as a dfd
    model of its recorded size. The trainer loads the teacher again, inside the distribution
    strategy's scope (a model loaded here would hold variables outside it)."""
    import tensorflow as tf

    strategy = hardware.choose_strategy(FLAGS.distribution,
                                        len(tf.config.list_physical_devices("GPU")),
                                        hardware.tf_config_workers())
    if strategy == "multi_worker":
        raise distill.TeacherError(
            "--teacher does not work with --distribution=multi_worker (or TF_CONFIG naming "
            "workers): dfd.train.multi_worker's loop has no distillation loss; train the "
            "student on one machine")
    teachers = distill.find_teachers(FLAGS.teacher)
    for teacher in teachers:
        if os.path.realpath(teacher.run_dir) == os.path.realpath(FLAGS.workdir):
            raise distill.TeacherError(
                f"--teacher={','.join(FLAGS.teacher)} names the --workdir: a run cannot teach "
                f"itself (the student's checkpoints would replace the teacher's); give the "
                f"student its own --workdir")
    # absolute, as config.json and flags.txt record them
    FLAGS.teacher = [teacher.run_dir for teacher in teachers]
    distill.check_settings(FLAGS.distill_alpha, FLAGS.distill_temperature)
    # loads and checks them; the trainer loads them again in its scope
    distill.load_teachers(teachers, FLAGS.teacher_combine)


def main(argv) -> None:
    quiet.quiet_frameworks()
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:  # before anything is written to the workdir
        found = training_sources()
        if FLAGS.data_service:
            if len(found) > 1:
                raise pipeline.DataServiceError(
                    "--data_service takes one --data_dir: tf.data service shards the "
                    "training split's files between its workers, and a mixed stream of "
                    "several sources draws from a random source it cannot shard")
            pipeline.check_dispatcher(FLAGS.data_service)
        if FLAGS.teacher:
            check_teacher()
    except (sources.SourceError, pipeline.SplitError, pipeline.DataServiceError,
            distill.TeacherError) as e:
        print(f"dfd.train: {e}", file=sys.stderr)
        sys.exit(2)
    # Absolute paths before flags.txt and config.json record them, so that dfd.evaluate and
    # export find the data from any working directory.
    FLAGS.data_dir = [source.data_dir for source in found]
    FLAGS.source_names = [source.name for source in found]
    FLAGS.workdir = os.path.abspath(FLAGS.workdir)
    if FLAGS.cache not in ("memory", "none"):
        FLAGS.cache = os.path.abspath(FLAGS.cache)
    os.makedirs(FLAGS.workdir, exist_ok=True)
    this = sys.modules[__name__]
    settings = types.SimpleNamespace(**run_flags.flag_values_of(this, run_flags))
    try:
        report = trainer.train_and_evaluate(
            settings, FLAGS.workdir, pipeline_config(), found,
            write_flagfile=lambda path: run_flags.write_flagfile(path, this, run_flags))
    except Exception as e:  # noqa: BLE001: only tf.data service's file count is translated
        hint = FLAGS.data_service and pipeline.too_few_files(
            e, FLAGS.data_service, FLAGS.data_dir[0])
        if not hint:
            raise
        print(f"dfd.train: {hint}", file=sys.stderr)
        sys.exit(2)
    from dfd.evaluate import report as evaluation
    evaluation.print_report(report or {"splits": {}})


def run() -> None:
    run_flags.run_program(main, required=["workdir", "data_dir"])


if __name__ == "__main__":
    run()
