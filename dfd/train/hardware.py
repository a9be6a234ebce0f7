"""Choosing tf.distribute strategy and dtype policy from flags and the machine.

The decisions are pure functions of what was found (GPU count, compute capabilities,
TF_CONFIG), so they are tested on a CPU-only machine; only `make_strategy` and
`apply_precision` touch TensorFlow state.
"""

from __future__ import annotations

import json
import os

import keras
import tensorflow as tf


def gpu_capabilities() -> list[tuple[int, int]]:
    """Compute capability of each visible GPU, e.g. [(8, 0), (8, 0)]."""
    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        found.append(tuple(details.get("compute_capability", (0, 0))))
    return found


def tf_config_workers(environ=os.environ) -> int:
    """Number of workers TF_CONFIG names (0 when unset or not a cluster)."""
    try:
        cluster = json.loads(environ.get("TF_CONFIG", "{}")).get("cluster", {})
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from None
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def choose_strategy(flag: str, num_gpus: int, num_workers: int) -> str:
    """'default', 'mirrored' or 'multi_worker' for --distribution=flag on this machine."""
    if flag != "auto":
        return flag
    if num_workers > 1:
        return "multi_worker"
    if num_gpus > 1:
        return "mirrored"
    return "default"


def make_strategy(name: str) -> tf.distribute.Strategy:
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        # All local GPUs; without any, all logical CPU devices, so that a CPU split into
        # logical devices rehearses the multi-GPU path (tests/training/test_gpu_rehearsal.py).
        devices = (tf.config.list_logical_devices("GPU")
                   or tf.config.list_logical_devices("CPU"))
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.get_strategy()


PRECISIONS = ("mixed_bfloat16", "mixed_float16", "float32")
"""Keras dtype policies --mixed_precision may name, besides auto (and on/off, the older
spellings of mixed_float16 and float32, kept so that older flags.txt files still repeat)."""


def choose_precision(flag: str, capabilities: list[tuple[int, int]]) -> str:
    """The Keras dtype policy for --mixed_precision=flag on GPUs of these capabilities.

    auto picks what the slowest GPU computes fast: bfloat16 from Ampere (8.0) on, which has
    float32's exponent range and so needs no loss scaling; float16 on Volta and Turing
    (7.x), whose tensor cores lack bfloat16 (dfd.train.loss_scaling scales its loss); float32
    without tensor cores or without a GPU, where mixed precision only adds casts.
    """
    if flag in PRECISIONS:
        return flag
    if flag == "on":
        return "mixed_float16"
    if flag == "off":
        return "float32"
    if capabilities and all(cap >= (8, 0) for cap in capabilities):
        return "mixed_bfloat16"
    if capabilities and all(cap >= (7, 0) for cap in capabilities):
        return "mixed_float16"
    return "float32"


def apply_precision(policy: str) -> None:
    keras.mixed_precision.set_global_policy(policy)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True except on non-chief workers of a multi-worker run (they must not write outputs)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (task_type == "worker" and task_id == 0
                                    and "chief" not in resolver.cluster_spec().as_dict())


def input_position(cluster: dict, task_type: str, task_id: int) -> tuple[int, int]:
    """(this task's input pipeline, number of them) in a cluster spec such as TF_CONFIG's:
    one per chief and worker, the chief first, as tf.distribute numbers them; (0, 1) for a
    task that trains on no input of its own."""
    tasks = ([("chief", i) for i in range(len(cluster.get("chief", [])))]
             + [("worker", i) for i in range(len(cluster.get("worker", [])))])
    if (task_type, task_id) not in tasks:
        return 0, 1
    return tasks.index((task_type, task_id)), len(tasks)


def input_context(strategy: tf.distribute.Strategy) -> tf.distribute.InputContext | None:
    """This worker's share of the training input in a multi-worker run (None otherwise):
    dfd.train.pipeline reads only that share, so N workers together read the split once."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return None
    index, count = input_position(resolver.cluster_spec().as_dict(), resolver.task_type,
                                  resolver.task_id)
    if count < 2:
        return None
    return tf.distribute.InputContext(num_input_pipelines=count, input_pipeline_id=index,
                                      num_replicas_in_sync=strategy.num_replicas_in_sync)
