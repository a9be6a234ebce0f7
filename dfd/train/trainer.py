"""The trainer library behind `python -m dfd.train` (`dfd/train/__main__.py` parses the flags).

One Keras `fit` over dfd's tf.data pipeline, with the callbacks Keras already has:
BackupAndRestore (rerun the same command after a kill and it resumes from the last finished
epoch), ModelCheckpoint of the best `monitor` value, EarlyStopping, TensorBoard,
TerminateOnNaN and a CSV history. Ends by writing the evaluation report (dfd.evaluate).
A pretrained model trains in two phases (frozen backbone, then all layers); several
workers (TF_CONFIG) train with `dfd.train.multi_worker`'s loop, since Keras 3's `fit` cannot; it
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
import types
from typing import Callable

from absl import logging

from dfd.evaluate import report as evaluation, run_folder
from dfd.train import (distill, hardware, loss_scaling, models, multi_worker, pipeline,
                       sources as sources_lib)

PRETRAINED_MODELS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
"""Models with ImageNet weights (dfd.train.pretrained.SUPPORTED; repeated here so that parsing
flags does not import the weights reader)."""


def resolved_init(model: str, init: str | None) -> str:
    if init is None:
        return "imagenet" if model in PRETRAINED_MODELS else "scratch"
    return init


def resolved_config(settings: types.SimpleNamespace, strategy_name: str, precision: str,
                    replicas: int) -> dict:
    config = dict(vars(settings))
    config.update(strategy=strategy_name, precision=precision, replicas=replicas)
    return config


def class_weights(settings, infos: list[dict], weights: list[float]) -> dict | None:
    """1 / (2 share_c) per class, where share_c is the class's share of what training draws
    (each source's class mix weighted by its sampling weight), so an imbalanced mix does not
    just learn the majority. For one source: n / (2 n_c) from the builder's counts."""
    if settings.class_weight == "none":
        return None
    shares = pipeline.mixed_class_shares(infos, weights)
    if not shares:
        return None
    if settings.self_blend_only:  # every fake is a blend of a real: its coin sets the mix
        p = settings.self_blend_probability
        shares = {"real": 1.0 - p, "fake": p}
        if not 0.0 < p < 1.0:
            return None
    return {label: 1.0 / (2.0 * max(shares[name], 1e-9))
            for label, name in enumerate(("real", "fake"))}


def make_optimizer(settings, steps_per_epoch: int, epochs: int, learning_rate: float):
    """AdamW (or the seed's Adam) with warm-up + cosine decay over `epochs`."""
    import keras
    total = max(1, steps_per_epoch * epochs)
    if settings.lr_schedule == "cosine":
        warmup = min(int(settings.warmup_epochs * steps_per_epoch), total - 1)
        rate = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else learning_rate,
            decay_steps=max(1, total - warmup),
            warmup_target=learning_rate if warmup else None, warmup_steps=warmup)
    else:
        rate = learning_rate
    if settings.optimizer == "adam":
        return keras.optimizers.Adam(rate)
    return keras.optimizers.AdamW(rate, weight_decay=settings.weight_decay)


@dataclasses.dataclass(frozen=True)
class Phase:
    """A stretch of epochs with one optimizer and one set of trainable layers."""
    name: str
    first_epoch: int
    end_epoch: int
    learning_rate: float
    backbone_trainable: bool = True


def training_phases(settings, init: str) -> list[Phase]:
    """One phase from scratch; a pretrained model first trains only its head with the
    backbone frozen (BatchNorm in inference mode, so ImageNet statistics survive the first
    noisy steps), then every layer at a lower learning rate."""
    if init != "imagenet" or not settings.freeze_epochs:
        return [Phase("train", 0, settings.epochs, settings.learning_rate)]
    return [Phase("frozen_backbone", 0, settings.freeze_epochs, settings.learning_rate, False),
            Phase("finetune", settings.freeze_epochs, settings.epochs,
                  settings.learning_rate * settings.finetune_learning_rate_factor)]


def monitor_mode(monitor: str) -> str:
    """"min" for a loss, "max" for a score such as AUC."""
    return "min" if monitor.endswith("loss") else "max"


def best_so_far(workdir: str, monitor: str = "val_auc") -> float | None:
    """The best monitored value of earlier (killed) attempts, so a resumed run does not
    overwrite best.keras with a worse epoch."""
    values = [row[monitor] for row in run_folder.read_history(workdir) if monitor in row]
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


def make_callbacks(settings, workdir: str, chief: bool, private_dir: str, phase: str = "train",
                   custom_loop: bool = False) -> list:
    """fit's callbacks; `custom_loop` (dfd.train.multi_worker) leaves out BackupAndRestore, as
    that loop checkpoints optimizer and loss scale itself, and TensorBoard, which needs fit."""
    import keras
    history = os.path.join(workdir, "history.csv")
    out = workdir if chief else private_dir
    monitor = settings.monitor
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
    if settings.early_stopping_patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=monitor, mode=mode, patience=settings.early_stopping_patience,
            restore_best_weights=settings.restore_best_weights))
    if settings.plateau_patience:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor=monitor, mode=mode, factor=settings.plateau_factor,
            patience=settings.plateau_patience, min_lr=settings.min_learning_rate))
    if chief:
        callbacks.append(keras.callbacks.CSVLogger(history, append=True))
    return callbacks


def train_and_evaluate(settings: types.SimpleNamespace, workdir: str,
                       pipeline_config: pipeline.PipelineConfig,
                       sources: list[sources_lib.Source],
                       write_flagfile: Callable[[str], str] | None = None) -> dict:
    """Trains `settings` (the train binary's flag values by name) on `sources` into
    `workdir` and writes the evaluation report; returns it (empty on a worker that is not
    the chief). `write_flagfile(path)` records the command line that repeats the run.

    One source trains on its split as it is, an epoch one pass over it. Several are mixed by
    their weights (pipeline.mixed_training_dataset), an epoch as many images as all their
    training splits hold; validation, the checkpoint choice and early stopping judge the
    union of their validation splits."""
    import keras
    import tensorflow as tf

    strategy_name = hardware.choose_strategy(
        settings.distribution, len(tf.config.list_physical_devices("GPU")),
        hardware.tf_config_workers())
    strategy = hardware.make_strategy(strategy_name)
    precision = hardware.choose_precision(settings.mixed_precision, hardware.gpu_capabilities())
    hardware.apply_precision(precision)
    chief = hardware.is_chief(strategy)
    task = getattr(getattr(strategy, "cluster_resolver", None), "task_id", 0) or 0
    private_dir = workdir if chief else os.path.join(workdir, f"worker{task}")
    os.makedirs(private_dir, exist_ok=True)
    keras.utils.set_random_seed(settings.seed)
    logging.info("strategy %s with %d replicas, precision %s, chief=%s", strategy_name,
                 strategy.num_replicas_in_sync, precision, chief)

    config = resolved_config(settings, strategy_name, precision, strategy.num_replicas_in_sync)
    config["sources"] = sources_lib.describe(sources)
    teacher_runs = distill.find_teachers(settings.teacher) if settings.teacher else []
    if teacher_runs:
        config["teacher_run"] = distill.describe_teachers(teacher_runs,
                                                          settings.teacher_combine)
    if chief:
        if write_flagfile:
            write_flagfile(os.path.join(workdir, "flags.txt"))
        with open(os.path.join(workdir, "config.json"), "w") as f:
            json.dump(config, f, indent=2, sort_keys=True)

    infos = [pipeline.split_info(s.data_dir, settings.train_split, settings.dataset)
             for s in sources]
    if pipeline_config.reals_only:
        infos = [pipeline.reals_only_info(info) for info in infos]
    weights = [s.weight for s in sources]
    train_examples = sum(info["num_examples"] for info in infos)
    pairs = [(s.name, s.data_dir) for s in sources]
    if len(sources) == 1:
        train_ds = pipeline.build_dataset(sources[0].data_dir, settings.train_split,
                                          pipeline_config, training=True,
                                          dataset=settings.dataset,
                                          input_context=hardware.input_context(strategy))
    else:
        train_ds = pipeline.mixed_training_dataset(
            pairs, settings.train_split, pipeline_config, weights, settings.dataset,
            input_context=hardware.input_context(strategy))
        logging.info("training on %s", ", ".join(
            f"{s['name']} ({info['num_examples']} images, {s['share']:.0%} of each batch)"
            for s, info in zip(config["sources"], infos)))
    eval_ds = selection_dataset(settings, pairs, pipeline_config)
    steps_per_epoch = math.ceil(train_examples / settings.batch_size)
    if strategy_name == "multi_worker":  # full batches only (dfd.train.multi_worker)
        steps_per_epoch = max(1, train_examples // settings.batch_size)
    weights_by_class = class_weights(settings, infos, weights)

    init = resolved_init(settings.model, settings.init)
    with strategy.scope():
        model = models.build(settings.model, settings.image_size, settings.dropout)
        if init == "imagenet":
            from dfd.train import pretrained
            logging.info("ImageNet weights from %s", pretrained.load_imagenet(model))
        trained, teacher = with_teacher(model, teacher_runs, settings)
    phases = training_phases(settings, init)
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
            optimizer = make_optimizer(settings, steps_per_epoch, phase.end_epoch - phase.first_epoch,
                                       phase.learning_rate)
            optimizer = loss_scaling.wrap(optimizer, precision)
            if strategy_name == "multi_worker":
                optimizer.build(model.trainable_variables)
            else:
                trained.compile(
                    optimizer=optimizer,
                    # a distilled model's loss is its own (dfd.train.distill)
                    loss=None if teacher else keras.losses.BinaryCrossentropy(
                        label_smoothing=settings.label_smoothing),
                    metrics=[keras.metrics.BinaryAccuracy(name="accuracy"),
                             keras.metrics.AUC(name="auc"),
                             keras.metrics.Precision(name="precision"),
                             keras.metrics.Recall(name="recall")])
        if strategy_name == "multi_worker":
            multi_worker.fit(
                model, optimizer, strategy, train_ds, eval_ds, first_epoch=phase.first_epoch,
                end_epoch=phase.end_epoch, train_examples=train_examples,
                global_batch=settings.batch_size, class_weight=weights_by_class,
                label_smoothing=settings.label_smoothing, private_dir=private_dir,
                phase=phase.name, callbacks=make_callbacks(settings, workdir, chief, private_dir,
                                                           phase.name, custom_loop=True))
        else:
            trained.fit(train_ds, validation_data=eval_ds, initial_epoch=phase.first_epoch,
                      epochs=phase.end_epoch, class_weight=weights_by_class,
                      # A mixed stream never ends: an epoch is as many images as the
                      # sources hold. One source keeps fit's own pass over the split.
                      steps_per_epoch=steps_per_epoch if len(sources) > 1 else None,
                      callbacks=make_callbacks(settings, workdir, chief, private_dir, phase.name),
                      verbose=1 if sys.stdout.isatty() else 2,
                      # The pipeline shuffles (seeded); fit's default True only warns.
                      shuffle=False)
        if len(phases) > 1:
            os.makedirs(os.path.dirname(done), exist_ok=True)
            model.save_weights(done)
    model.save(os.path.join(workdir if chief else private_dir, "final.keras"))
    if not chief:
        return {}
    report = evaluation.evaluate_workdir(workdir, robustness_suite=settings.robustness,
                                         robustness_splits=settings.robustness_splits)
    if teacher:
        from dfd.evaluate import agreement
        report = agreement.add_to_metrics(workdir, teacher, teacher_runs[0].config,
                                          [settings.eval_split], config["teacher_run"])
    return report


def selection_dataset(settings, pairs: list[tuple[str, str]], pipeline_config):
    """What checkpoint choice, early stopping and the plateau judge: --select_on=fakes, the
    validation split of the one source or the union of several; self_blends, their reals
    each as itself and self-blended (pipeline.held_out_blends)."""
    if settings.select_on == "self_blends":
        return pipeline.held_out_blends(pairs, settings.eval_split, pipeline_config,
                                        settings.dataset)
    if len(pairs) == 1:
        return pipeline.build_dataset(pairs[0][1], settings.eval_split, pipeline_config,
                                      training=False, dataset=settings.dataset)
    return pipeline.union_dataset(pairs, settings.eval_split, pipeline_config, settings.dataset)


def with_teacher(model, teacher_runs: list[distill.TeacherRun], settings):
    """(the model fit trains, the teacher or None): with --teacher, the student wrapped with
    its frozen teacher (several combined into one) and the distillation loss
    (dfd.train.distill); else `model` itself. Called in the strategy's scope, so the
    teacher's variables are mirrored too."""
    if not teacher_runs:
        return model, None
    teacher = distill.load_teachers(teacher_runs, settings.teacher_combine)
    return distill.distiller(model, teacher, settings.distill_alpha,
                             settings.distill_temperature, settings.label_smoothing), teacher
