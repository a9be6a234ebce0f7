"""Training under MultiWorkerMirroredStrategy with a custom loop.

Keras 3's `fit` cannot run under MultiWorkerMirroredStrategy (keras-team/keras#20585: its
symbolic build tries to convert a PerReplica batch to a tensor), so on several workers dfd
trains with `strategy.run` instead, and keeps what users rely on from `fit`: history.csv
rows, best.keras chosen on validation AUC, resume from the last finished epoch after a kill
(tf.train.CheckpointManager, one per worker), early stopping and TerminateOnNaN. Not kept:
TensorBoard logs and the per-epoch training metrics other than the loss (validation
metrics are computed exactly, with dfd.metrics, on every worker).

Every worker runs the same number of steps per epoch (the training set repeats and the
last partial batch is never started): a worker that runs one step more than the others
waits forever in its all-reduce.
"""

from __future__ import annotations

import csv
import math
import os

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from dfd import metrics


def _history_row(epoch: int, loss: float, seconds: float, result: dict) -> dict:
    return {"epoch": epoch, "loss": loss, "epoch_seconds": seconds,
            "val_loss": result["loss"], "val_accuracy": result["accuracy"],
            "val_auc": result["auc"], "val_precision": result["precision"],
            "val_recall": result["recall"]}


def _append_history(path: str, row: dict) -> None:
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def _validate(model, eval_ds) -> dict:
    labels, scores = [], []
    for images, batch_labels in eval_ds:
        scores.append(np.asarray(model(images, training=False), np.float64).reshape(-1))
        labels.append(np.asarray(batch_labels).reshape(-1))
    return metrics.summarize(np.concatenate(labels), np.concatenate(scores))


def fit(model, optimizer, strategy, train_ds, eval_ds, *, first_epoch: int, end_epoch: int,
        train_examples: int, global_batch: int, class_weight: dict | None,
        label_smoothing: float, workdir: str, private_dir: str, chief: bool, phase: str,
        patience: int, best_so_far: float | None) -> None:
    """Trains epochs [first_epoch, end_epoch) on every worker; the chief writes outputs."""
    import time

    steps = max(1, train_examples // global_batch)
    weights = tf.constant([class_weight[0], class_weight[1]] if class_weight else [1.0, 1.0],
                          tf.float32)
    epoch_var = tf.Variable(first_epoch, dtype=tf.int64, trainable=False)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch_var)
    manager = tf.train.CheckpointManager(
        checkpoint, os.path.join(private_dir, "backup", f"{phase}_multi_worker"), max_to_keep=1)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint)
        logging.info("resumed %s at epoch %d", phase, int(epoch_var.numpy()))

    def replica_step(images, labels):
        with tf.GradientTape() as tape:
            p_fake = tf.reshape(model(images, training=True), [-1])
            per_example = keras.losses.binary_crossentropy(
                labels[:, None], p_fake[:, None], label_smoothing=label_smoothing)
            per_example *= tf.gather(weights, tf.cast(labels, tf.int32))
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    @tf.function
    def train_epoch(iterator):
        total = tf.constant(0.0)
        for _ in tf.range(steps):
            per_replica = strategy.run(replica_step, args=next(iterator))
            total += strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
        return total / steps

    iterator = iter(strategy.experimental_distribute_dataset(train_ds.repeat()))
    best = best_so_far if best_so_far is not None else -math.inf
    waited = 0
    for epoch in range(int(epoch_var.numpy()), end_epoch):
        start = time.perf_counter()
        loss = float(train_epoch(iterator))
        if not math.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss} in epoch {epoch + 1}")
        result = _validate(model, eval_ds)
        seconds = time.perf_counter() - start
        logging.info("epoch %d/%d: loss %.4f val_auc %.4f (%.1f s)", epoch + 1, end_epoch,
                     loss, result["auc"], seconds)
        epoch_var.assign(epoch + 1)
        manager.save()  # every worker saves its own copy: saving is collective-free here
        if result["auc"] > best:
            best, waited = result["auc"], 0
            if chief:
                model.save(os.path.join(workdir, "best.keras"))
        else:
            waited += 1
        if chief:
            _append_history(os.path.join(workdir, "history.csv"),
                            _history_row(epoch, loss, seconds, result))
        if patience and waited >= patience:
            logging.info("early stopping: no better validation AUC for %d epochs", patience)
            break
