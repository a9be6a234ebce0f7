"""Mixed precision on several replicas: a float16 overflow on one replica skips the step on
all of them instead of writing NaN into the weights (dfd/loss_scaling.py)."""

import json
import subprocess
import sys

from conftest import TF_ENV

ONE_REPLICA_OVERFLOWS = r"""
import json, sys
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from dfd.train import loss_scaling
keras.mixed_precision.set_global_policy("mixed_float16")
strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
# A global batch of two: replica 0 gets a small example (its scaled gradient stays finite),
# replica 1 one whose float16 forward pass overflows (60000 * 2 > 65504): only replica 1's
# gradients are inf.
x = np.array([[0.01], [60000.0]], "float32")
y = np.array([[0.03], [1.0]], "float32")
with strategy.scope():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(
        1, kernel_initializer=keras.initializers.Constant(2.0))])
    optimizer = keras.optimizers.SGD(0.1)
    if sys.argv[1] == "dfd":
        optimizer = loss_scaling.wrap(optimizer, "mixed_float16")
    model.compile(optimizer=optimizer, loss="mse")
model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(2), epochs=1, verbose=0)
weights = np.concatenate([np.ravel(w) for w in model.get_weights()])
print(json.dumps({"finite": bool(np.isfinite(weights).all()),
                  "steps": int(model.optimizer.iterations.numpy()),
                  "scale": float(model.optimizer.dynamic_scale.numpy())}))
"""


def train_one_overflowing_step(optimizer: str) -> dict:
    out = subprocess.run([sys.executable, "-c", ONE_REPLICA_OVERFLOWS, optimizer], env=TF_ENV,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_an_overflow_on_one_replica_skips_the_step_on_every_replica():
    result = train_one_overflowing_step("dfd")
    assert result == {"finite": True, "steps": 0, "scale": 32768.0 / 2}


def test_stock_keras_still_applies_that_step():
    """Keras 3's LossScaleOptimizer checks only the first replica's local gradients. When
    this fails, Keras has fixed it and dfd.train.loss_scaling can go."""
    assert train_one_overflowing_step("keras")["finite"] is False
