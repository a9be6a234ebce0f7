"""Trainer: `python -m dfd.train --flagfile=configs/<name>.flags` (also `dfd-train`).

One Keras `fit` over dfd's tf.data pipeline, with the callbacks Keras already has:
BackupAndRestore (rerun the same command after a kill and it resumes from the last finished
epoch), ModelCheckpoint of the best --monitor value, EarlyStopping, TensorBoard,
TerminateOnNaN and a CSV history. Ends by writing the evaluation report (dfd.evaluate).
A pretrained model trains in two phases (frozen backbone, then all layers); several
workers (TF_CONFIG) train with `dfd.multi_worker`'s loop, since Keras 3's `fit` cannot; it
drives the same callbacks but TensorBoard and BackupAndRestore.

The workdir gets flags.txt (a flagfile that repeats the run exactly), config.json,
best.keras, final.keras, history.csv, tensorboard/, backup/, metrics.json and plots.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys

from absl import app, flags, logging

from dfd import quiet  # first: TensorFlow reads its log level as it loads
quiet.import_tensorflow()  # its C++ start-up lines obey that level only this way
import dfd.flags  # noqa: E402
from dfd import data, evaluate, hardware, loss_scaling, models, multi_worker  # noqa: E402
from dfd.flags import FLAGS  # noqa: E402


def write_flags(workdir: str) -> str:
    """Writes every dfd flag with its value, as a flagfile that reproduces this run."""
    path = os.path.join(workdir, "flags.txt")
    with open(path, "w") as f:
        for flag in FLAGS.get_flags_for_module(dfd.flags):
            if flag.value is not None:
                f.write(flag.serialize() + "\n")
    return path


def resolved_config(strategy_name: str, precision: str, replicas: int) -> dict:
    config = {flag.name: flag.value for flag in FLAGS.get_flags_for_module(dfd.flags)}
    config.update(strategy=strategy_name, precision=precision, replicas=replicas)
    return config


def class_weights(info: dict) -> dict | None:
    """n / (2 n_c) per class, so an imbalanced split does not just learn the majority."""
    counts = info.get("class_counts")
    if FLAGS.class_weight == "none" or not counts:
        return None
    total = sum(counts.values())
    return {label: total / (2.0 * max(counts[name], 1))
            for label, name in enumerate(("real", "fake"))}


def make_optimizer(steps_per_epoch: int, epochs: int, learning_rate: float):
    """AdamW (or the seed's Adam) with warm-up + cosine decay over `epochs`."""
    import keras
    total = max(1, steps_per_epoch * epochs)
    if FLAGS.lr_schedule == "cosine":
        warmup = min(int(FLAGS.warmup_epochs * steps_per_epoch), total - 1)
        rate = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else learning_rate,
            decay_steps=max(1, total - warmup),
            warmup_target=learning_rate if warmup else None, warmup_steps=warmup)
    else:
        rate = learning_rate
    if FLAGS.optimizer == "adam":
        return keras.optimizers.Adam(rate)
    return keras.optimizers.AdamW(rate, weight_decay=FLAGS.weight_decay)


@dataclasses.dataclass(frozen=True)
class Phase:
    """A stretch of epochs with one optimizer and one set of trainable layers."""
    name: str
    first_epoch: int
    end_epoch: int
    learning_rate: float
    backbone_trainable: bool = True


def training_phases(init: str) -> list[Phase]:
    """One phase from scratch; a pretrained model first trains only its head with the
    backbone frozen (BatchNorm in inference mode, so ImageNet statistics survive the first
    noisy steps), then every layer at a lower learning rate."""
    if init != "imagenet" or not FLAGS.freeze_epochs:
        return [Phase("train", 0, FLAGS.epochs, FLAGS.learning_rate)]
    return [Phase("frozen_backbone", 0, FLAGS.freeze_epochs, FLAGS.learning_rate, False),
            Phase("finetune", FLAGS.freeze_epochs, FLAGS.epochs,
                  FLAGS.learning_rate * FLAGS.finetune_learning_rate_factor)]


def monitor_mode(monitor: str) -> str:
    """"min" for a loss, "max" for a score such as AUC."""
    return "min" if monitor.endswith("loss") else "max"


def best_so_far(workdir: str, monitor: str = "val_auc") -> float | None:
    """The best monitored value of earlier (killed) attempts, so a resumed run does not
    overwrite best.keras with a worse epoch."""
    values = [row[monitor] for row in evaluate.read_history(workdir) if monitor in row]
    if not values:
        return None
    return min(values) if monitor_mode(monitor) == "min" else max(values)


def epoch_timer():
    """Adds `epoch_seconds` (training plus validation wall time) to each epoch's logs, so
    history.csv says how fast a run went, not only how well."""
    import time

    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["epoch_seconds"] = time.perf_counter() - self.start

    return EpochTimer()


def make_callbacks(workdir: str, chief: bool, private_dir: str, phase: str = "train",
                   custom_loop: bool = False) -> list:
    """fit's callbacks; `custom_loop` (dfd.multi_worker) leaves out BackupAndRestore, as
    that loop checkpoints optimizer and loss scale itself, and TensorBoard, which needs fit."""
    import keras
    history = os.path.join(workdir, "history.csv")
    out = workdir if chief else private_dir
    monitor = FLAGS.monitor
    mode = monitor_mode(monitor)
    callbacks = [epoch_timer(), keras.callbacks.TerminateOnNaN()]
    if not custom_loop:
        # Before the CSV logger: once an epoch's line is in history.csv, its backup exists.
        callbacks.append(
            keras.callbacks.BackupAndRestore(os.path.join(private_dir, "backup", phase)))
    callbacks.append(keras.callbacks.ModelCheckpoint(
        os.path.join(out, "best.keras"), monitor=monitor, mode=mode,
        save_best_only=True, initial_value_threshold=best_so_far(workdir, monitor)))
    if not custom_loop:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(out, "tensorboard")))
    if FLAGS.early_stopping_patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=monitor, mode=mode, patience=FLAGS.early_stopping_patience,
            restore_best_weights=FLAGS.restore_best_weights))
    if FLAGS.plateau_patience:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor=monitor, mode=mode, factor=FLAGS.plateau_factor,
            patience=FLAGS.plateau_patience, min_lr=FLAGS.min_learning_rate))
    if chief:
        callbacks.append(keras.callbacks.CSVLogger(history, append=True))
    return callbacks


def train_and_evaluate(workdir: str) -> dict:
    import keras
    import tensorflow as tf

    strategy_name = hardware.choose_strategy(
        FLAGS.distribution, len(tf.config.list_physical_devices("GPU")),
        hardware.tf_config_workers())
    strategy = hardware.make_strategy(strategy_name)
    precision = hardware.choose_precision(FLAGS.mixed_precision, hardware.gpu_capabilities())
    hardware.apply_precision(precision)
    chief = hardware.is_chief(strategy)
    task = getattr(getattr(strategy, "cluster_resolver", None), "task_id", 0) or 0
    private_dir = workdir if chief else os.path.join(workdir, f"worker{task}")
    os.makedirs(private_dir, exist_ok=True)
    keras.utils.set_random_seed(FLAGS.seed)
    logging.info("strategy %s with %d replicas, precision %s, chief=%s", strategy_name,
                 strategy.num_replicas_in_sync, precision, chief)

    config = resolved_config(strategy_name, precision, strategy.num_replicas_in_sync)
    if chief:
        write_flags(workdir)
        with open(os.path.join(workdir, "config.json"), "w") as f:
            json.dump(config, f, indent=2, sort_keys=True)

    pipeline = dfd.flags.pipeline_config()
    train_info = data.split_info(FLAGS.data_dir, FLAGS.train_split, FLAGS.dataset)
    train_ds = data.build_dataset(FLAGS.data_dir, FLAGS.train_split, pipeline, training=True,
                                  dataset=FLAGS.dataset)
    eval_ds = data.build_dataset(FLAGS.data_dir, FLAGS.eval_split, pipeline, training=False,
                                 dataset=FLAGS.dataset)
    steps_per_epoch = math.ceil(train_info["num_examples"] / FLAGS.batch_size)
    if strategy_name == "multi_worker":  # full batches only (dfd.multi_worker)
        steps_per_epoch = max(1, train_info["num_examples"] // FLAGS.batch_size)

    init = dfd.flags.resolved_init(FLAGS.model, FLAGS.init)
    with strategy.scope():
        model = models.build(FLAGS.model, FLAGS.image_size, FLAGS.dropout)
        if init == "imagenet":
            from dfd import pretrained
            logging.info("ImageNet weights from %s", pretrained.load_imagenet(model))
    phases = training_phases(init)
    for phase in phases:
        # A phase that finished before a kill is not rerun: its end state is reloaded
        # (BackupAndRestore forgets a phase once its fit returns).
        done = os.path.join(private_dir, "backup", f"{phase.name}.done.weights.h5")
        if len(phases) > 1 and os.path.exists(done):
            model.load_weights(done)
            continue
        logging.info("phase %s: epochs %d-%d, learning rate %g, backbone trainable %s",
                     phase.name, phase.first_epoch + 1, phase.end_epoch, phase.learning_rate,
                     phase.backbone_trainable)
        with strategy.scope():
            if models.BACKBONE in {layer.name for layer in model.layers}:
                model.get_layer(models.BACKBONE).trainable = phase.backbone_trainable
            optimizer = make_optimizer(steps_per_epoch, phase.end_epoch - phase.first_epoch,
                                       phase.learning_rate)
            optimizer = loss_scaling.wrap(optimizer, precision)
            if strategy_name == "multi_worker":
                optimizer.build(model.trainable_variables)
            else:
                model.compile(
                    optimizer=optimizer,
                    loss=keras.losses.BinaryCrossentropy(label_smoothing=FLAGS.label_smoothing),
                    metrics=[keras.metrics.BinaryAccuracy(name="accuracy"),
                             keras.metrics.AUC(name="auc"),
                             keras.metrics.Precision(name="precision"),
                             keras.metrics.Recall(name="recall")])
        if strategy_name == "multi_worker":
            multi_worker.fit(
                model, optimizer, strategy, train_ds, eval_ds, first_epoch=phase.first_epoch,
                end_epoch=phase.end_epoch, train_examples=train_info["num_examples"],
                global_batch=FLAGS.batch_size, class_weight=class_weights(train_info),
                label_smoothing=FLAGS.label_smoothing, private_dir=private_dir,
                phase=phase.name, callbacks=make_callbacks(workdir, chief, private_dir,
                                                           phase.name, custom_loop=True))
        else:
            model.fit(train_ds, validation_data=eval_ds, initial_epoch=phase.first_epoch,
                      epochs=phase.end_epoch, class_weight=class_weights(train_info),
                      callbacks=make_callbacks(workdir, chief, private_dir, phase.name),
                      verbose=1 if sys.stdout.isatty() else 2,
                      # The pipeline shuffles (seeded); fit's default True only warns.
                      shuffle=False)
        if len(phases) > 1:
            os.makedirs(os.path.dirname(done), exist_ok=True)
            model.save_weights(done)
    model.save(os.path.join(workdir if chief else private_dir, "final.keras"))
    if not chief:
        return {}
    return evaluate.evaluate_workdir(workdir, robustness_suite=FLAGS.robustness,
                                     robustness_splits=FLAGS.robustness_splits)


def absolute_paths() -> None:
    """Paths become absolute before flags.txt and config.json record them, so that
    dfd.evaluate and export find the data from any working directory."""
    FLAGS.data_dir = os.path.abspath(FLAGS.data_dir)
    FLAGS.workdir = os.path.abspath(FLAGS.workdir)
    if FLAGS.cache not in ("memory", "none"):
        FLAGS.cache = os.path.abspath(FLAGS.cache)


def main(argv) -> None:
    quiet.quiet_frameworks()
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    absolute_paths()
    try:  # before anything is written to the workdir
        for flag in ("train_split", "eval_split"):
            data.require_splits(FLAGS.data_dir, FLAGS.dataset, flag, [FLAGS[flag].value])
        if FLAGS["robustness_splits"].present:  # the default names test, which may be absent
            data.require_splits(FLAGS.data_dir, FLAGS.dataset, "robustness_splits",
                                FLAGS.robustness_splits)
    except data.SplitError as e:
        raise app.UsageError(str(e)) from None
    os.makedirs(FLAGS.workdir, exist_ok=True)
    evaluate.print_report(train_and_evaluate(FLAGS.workdir) or {"splits": {}})


def run() -> None:
    dfd.flags.define("train")
    flags.adopt_module_key_flags(dfd.flags)
    flags.mark_flags_as_required(["workdir", "data_dir"])
    app.run(main)


if __name__ == "__main__":
    run()
