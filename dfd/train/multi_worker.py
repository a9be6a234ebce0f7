"""Training under MultiWorkerMirroredStrategy with a custom loop driven by Keras's callbacks.

Keras 3's `fit` cannot run under MultiWorkerMirroredStrategy (keras-team/keras#20585: its
symbolic build tries to convert a PerReplica batch to a tensor), so on several workers dfd
trains with `strategy.run` instead and drives the callbacks `fit` would get through
`keras.callbacks.CallbackList` (dfd.train.make_callbacks: history.csv, best.keras on
--monitor, early stopping, the plateau schedule, TerminateOnNaN). Not used here:
BackupAndRestore, because resuming after a kill needs the optimizer and the loss scale too,
which a tf.train.CheckpointManager per worker keeps; TensorBoard, which reads state only
`fit` sets up. The epoch logs hold the training loss and the validation figures, computed
exactly with dfd.common.metrics on every worker from the same weights, so every worker takes the
same stopping decision (a worker that stopped alone would wait forever in its all-reduce).

Every worker runs the same number of steps per epoch: the training set is cut into full
global batches and repeats, and an epoch is train_examples // global_batch steps. The
partial last batch of each pass is dropped: split over the replicas it would leave some of
them empty, and its loss would still be divided by the full global batch.

Under mixed_float16 the optimizer is dfd.train.loss_scaling's ReplicaSafeLossScaleOptimizer: the
loss is scaled before the gradients are taken, the optimizer unscales them, and a step whose
gradients are not finite on any replica is skipped on every replica (and the scale halves).
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from dfd.common import metrics


def validation_logs(model, eval_ds) -> dict:
    """The `val_*` figures `fit` would log, over the whole validation split in file order."""
    labels, scores = [], []
    for images, batch_labels in eval_ds:
        scores.append(np.asarray(model(images, training=False), np.float64).reshape(-1))
        labels.append(np.asarray(batch_labels).reshape(-1))
    result = metrics.summarize(np.concatenate(labels), np.concatenate(scores))
    return {f"val_{name}": result[name]
            for name in ("loss", "accuracy", "auc", "precision", "recall")}


def full_batches(train_ds: tf.data.Dataset, global_batch: int) -> tf.data.Dataset:
    """The training batches, each exactly `global_batch` examples, repeated forever."""
    return train_ds.rebatch(global_batch, drop_remainder=True).repeat()


def fit(model, optimizer, strategy, train_ds, eval_ds, *, first_epoch: int, end_epoch: int,
        train_examples: int, global_batch: int, class_weight: dict | None,
        label_smoothing: float, private_dir: str, phase: str,
        callbacks: list[keras.callbacks.Callback]) -> keras.callbacks.History:
    """Trains epochs [first_epoch, end_epoch) on every replica; returns the History.

    `optimizer` is built and, under mixed precision, loss-scaled (dfd.train.loss_scaling.wrap);
    each worker's callbacks decide what it writes (the chief's write the run's files)."""
    steps = train_examples // global_batch
    if steps < 1:
        raise ValueError(f"the training split has {train_examples} examples, fewer than one "
                         f"global batch of {global_batch}: lower --batch_size")
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
            p_fake = tf.reshape(tf.cast(model(images, training=True), tf.float32), [-1])
            per_example = keras.losses.binary_crossentropy(
                labels[:, None], p_fake[:, None], label_smoothing=label_smoothing)
            per_example *= tf.gather(weights, tf.cast(labels, tf.int32))
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            scaled = optimizer.scale_loss(loss)  # the loss itself without loss scaling
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        return loss

    @tf.function
    def train_step(iterator):
        per_replica = strategy.run(replica_step, args=next(iterator))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    # fit's callbacks read model.optimizer (ReduceLROnPlateau sets its learning rate).
    model.optimizer = optimizer
    model.stop_training = False
    callback_list = keras.callbacks.CallbackList(
        callbacks, add_history=True, model=model, epochs=end_epoch, steps=steps, verbose=0)
    iterator = iter(strategy.experimental_distribute_dataset(
        full_batches(train_ds, global_batch)))
    (history,) = [c for c in callback_list.callbacks if isinstance(c, keras.callbacks.History)]
    callback_list.on_train_begin()
    logs = {}
    for epoch in range(int(epoch_var.numpy()), end_epoch):
        callback_list.on_epoch_begin(epoch)
        total = 0.0
        for step in range(steps):
            callback_list.on_train_batch_begin(step)
            total += float(train_step(iterator))
            callback_list.on_train_batch_end(step, {"loss": total / (step + 1)})
            if model.stop_training:  # TerminateOnNaN: the same loss on every worker
                break
        if model.stop_training:
            # Cut short by a non-finite loss: the epoch is neither validated, nor a
            # candidate for best.keras, nor a point to resume from.
            logging.error("epoch %d: training loss became %s; stopped", epoch + 1,
                          total / (step + 1))
            break
        logs = {"loss": total / steps, **validation_logs(model, eval_ds)}
        epoch_var.assign(epoch + 1)
        manager.save()  # every worker saves its own copy: saving is collective-free here
        callback_list.on_epoch_end(epoch, logs)
        logging.info("epoch %d/%d: %s", epoch + 1, end_epoch,
                     "  ".join(f"{k} {v:.4f}" for k, v in logs.items()))
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
    return history
