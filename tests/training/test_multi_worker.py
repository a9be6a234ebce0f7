"""dfd.train.multi_worker's loop on two replicas (two logical CPUs under MirroredStrategy, which
runs the same `strategy.run` code as MultiWorkerMirroredStrategy without two processes):
Keras's callbacks drive it, every batch is full, and mixed precision is loss-scaled. The
two-process run under TF_CONFIG is test_train.py's two-worker test."""

import json
import subprocess
import sys

import pytest

from conftest import TF_ENV

TWO_REPLICAS = r"""
import json, os, sys
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from dfd.train import loss_scaling, multi_worker
strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
out = sys.argv[1]
"""

CALLBACKS = TWO_REPLICAS + r"""
class Seen(keras.layers.Layer):
    # Training examples the first replica's forward passes saw.
    def build(self, shape):
        self.seen = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                    aggregation="only_first_replica", name="seen")

    def call(self, x, training=False):
        if training:
            self.seen.assign_add(tf.cast(tf.shape(x)[0], self.seen.dtype))
        return x

x = np.linspace(-1, 1, 5, dtype="float32")[:, None]
labels = np.array([0, 1, 0, 1, 1])
ds = tf.data.Dataset.from_tensor_slices((x, labels)).batch(4)  # a full batch, then one image
with strategy.scope():
    seen = Seen()
    model = keras.Sequential([keras.Input((1,)), seen, keras.layers.Dense(1, activation="sigmoid")])
    optimizer = keras.optimizers.SGD(0.0)  # nothing improves: early stopping ends the run
    optimizer.build(model.trainable_variables)
callbacks = [keras.callbacks.TerminateOnNaN(),
             keras.callbacks.ModelCheckpoint(os.path.join(out, "best.keras"), monitor="val_loss",
                                             mode="min", save_best_only=True),
             keras.callbacks.EarlyStopping(monitor="val_loss", mode="min", patience=1),
             keras.callbacks.CSVLogger(os.path.join(out, "history.csv"))]
history = multi_worker.fit(model, optimizer, strategy, ds, ds, first_epoch=0, end_epoch=5,
                           train_examples=5, global_batch=4, class_weight=None,
                           label_smoothing=0.0, private_dir=out, phase="t", callbacks=callbacks)
print(json.dumps({"epochs": history.epoch, "seen": float(seen.seen.numpy())}))
"""

LOSS_SCALING = TWO_REPLICAS + r"""
keras.mixed_precision.set_global_policy("mixed_float16")
results = {}
# Replica 0 gets x = 0.01, replica 1 x = second: the forward pass stays finite, but with the
# loss scaled by 32768 the float16 gradient of the kernel, x * dL/dz, overflows on replica 1
# alone when x = 60000; with x = 1 every gradient is finite.
for second in (60000.0, 1.0):
    x = np.array([[0.01], [second]], "float32")
    ds = tf.data.Dataset.from_tensor_slices((x, np.array([0, 0]))).batch(2)
    with strategy.scope():
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(
            1, kernel_initializer=keras.initializers.Constant(1e-5)),
            keras.layers.Activation("sigmoid", dtype="float32")])
        optimizer = loss_scaling.wrap(keras.optimizers.SGD(0.1), "mixed_float16")
        optimizer.build(model.trainable_variables)
    multi_worker.fit(model, optimizer, strategy, ds, ds, first_epoch=0, end_epoch=1,
                     train_examples=2, global_batch=2, class_weight=None, label_smoothing=0.0,
                     private_dir=os.path.join(out, str(second)), phase="t", callbacks=[])
    results[str(second)] = {"kernel": float(model.layers[0].kernel.numpy()[0, 0]),
                            "steps": int(optimizer.iterations.numpy()),
                            "scale": float(optimizer.dynamic_scale.numpy())}
print(json.dumps(results))
"""


def run_script(script: str, tmp_path) -> dict:
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=TF_ENV,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_loop_drives_keras_callbacks_on_full_batches(tmp_path):
    result = run_script(CALLBACKS, tmp_path)
    # EarlyStopping on val_loss (patience 1, nothing can improve) ends after two epochs.
    assert result["epochs"] == [0, 1]
    # One step per epoch of 4 images, 2 per replica; the leftover fifth image is dropped
    # (repeating the unevenly batched set gave replica 0 one image in epoch 2: 3 in all).
    assert result["seen"] == 4
    rows = (tmp_path / "history.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].split(",")[:2] == ["epoch", "loss"]
    assert {"val_loss", "val_auc", "val_accuracy"} <= set(rows[0].split(","))
    assert (tmp_path / "best.keras").exists()


def test_mixed_precision_loop_scales_the_loss_and_skips_an_overflow_on_every_replica(
        tmp_path):
    result = run_script(LOSS_SCALING, tmp_path)
    overflow, finite = result["60000.0"], result["1.0"]
    # Skipped everywhere: the weights are untouched, no step counted, the scale halved.
    assert overflow["kernel"] == pytest.approx(1e-5)
    assert (overflow["steps"], overflow["scale"]) == (0, 16384.0)
    # A finite step is applied (unscaled: a scaled gradient would have thrown the kernel far
    # further than SGD(0.1) on a loss below 1 can) and keeps the scale.
    assert finite["steps"] == 1 and finite["scale"] == 32768.0
    assert -0.1 < finite["kernel"] < 0
