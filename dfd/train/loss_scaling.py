"""Dynamic loss scaling that is safe under MirroredStrategy.

Keras 3's `LossScaleOptimizer` decides whether a step's gradients are finite on the first
replica's *local* gradients only (its comment assumes they were already all-reduced; in
Keras 3 the all-reduce happens later, inside the inner optimizer's `apply`). When another
replica overflows in float16, the step is applied anyway and the all-reduced inf turns the
weights into NaN for good. Found by the GPU rehearsal (two logical CPUs, mixed_float16):
dfdnet's first depthwise kernel went NaN after one step and every epoch after it logged a
NaN loss. Here each replica first agrees with the others on "any gradient non-finite?" and,
if so, poisons its own gradients so that the stock check skips the step on every replica
and lowers the scale, as it does on one device.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="dfd")
class ReplicaSafeLossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """A LossScaleOptimizer whose skip decision is shared by all replicas in sync."""

    def apply(self, grads, trainable_variables=None):
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            locally_bad = tf.cast(tf.logical_not(self.check_finite(grads)), tf.float32)
            anywhere_bad = context.all_reduce(tf.distribute.ReduceOp.SUM, locally_bad)
            poison = tf.where(anywhere_bad > 0, float("nan"), 0.0)
            grads = [None if g is None else g + tf.cast(poison, g.dtype) for g in grads]
        return super().apply(grads, trainable_variables)


def wrap(optimizer: keras.optimizers.Optimizer, precision: str) -> keras.optimizers.Optimizer:
    """The optimizer to compile with: loss-scaled when the policy computes in float16
    (Keras would otherwise wrap it in its stock LossScaleOptimizer)."""
    if precision != "mixed_float16":
        return optimizer
    return ReplicaSafeLossScaleOptimizer(optimizer, name="loss_scale_optimizer")
