"""configs/gpu.flags rehearsed on the CPU: what a multi-GPU user runs, scaled down.

No GPU is available to this project's machines or CI, so the GPU path is rehearsed with
what stands in for it: MirroredStrategy over two logical CPU devices (the same
all-reduce, per-replica batches and distributed datasets as two GPUs), each mixed policy
that --mixed_precision=auto picks on a GPU forced on (mixed_float16 with loss scaling, as
on 7.x tensor cores; mixed_bfloat16 without, as from 8.0), and the GPU flagfile itself with
only its sizes scaled down. End to end: train, SIGKILL, resume, evaluate, export (float16);
train, evaluate, export (bfloat16).
"""

import json
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, TF_ENV

TWO_LOGICAL_CPUS = (
    "import sys, tensorflow as tf; "
    "cpu = tf.config.list_physical_devices('CPU')[0]; "
    "tf.config.set_logical_device_configuration("
    "cpu, [tf.config.LogicalDeviceConfiguration()] * 2); "
    "from dfd.train import __main__ as train; train.run()")
"""`python -c` prelude: split the CPU into two logical devices before anything else runs."""


GPU_BATCH, GPU_LEARNING_RATE, BATCH = 512, 8e-3, 16
"""gpu.flags' batch and rate; scaled down, the rate follows the batch (linear scaling rule),
as a user shrinking the batch should. (The NaN losses once blamed on 8e-3 at batch 16 were
Keras's loss-scaling defect under MirroredStrategy, fixed by dfd/loss_scaling.py.)"""


def gpu_flagfile_run(data_dir, workdir, cache, epochs, precision="mixed_float16"):
    return [sys.executable, "-c", TWO_LOGICAL_CPUS, f"--flagfile={ROOT / 'configs/gpu.flags'}",
            f"--data_dir={data_dir}", f"--workdir={workdir}", "--image_size=32",
            f"--batch_size={BATCH}", f"--learning_rate={GPU_LEARNING_RATE * BATCH / GPU_BATCH}",
            f"--epochs={epochs}", "--warmup_epochs=1",
            f"--mixed_precision={precision}", "--distribution=mirrored", f"--cache={cache}",
            "--robustness=fast"]


def epochs_logged(workdir):
    path = workdir / "history.csv"
    if not path.exists():
        return []
    return [int(line.split(",")[0]) for line in path.read_text().splitlines()[1:] if line]


@pytest.mark.long
@pytest.mark.slow
def test_gpu_flagfile_trains_resumes_evaluates_and_exports_on_two_logical_devices(
        tiny_tfds, tmp_path):
    workdir, cache = tmp_path / "run", tmp_path / "cache" / "gpu"
    cmd = gpu_flagfile_run(tiny_tfds / "tfds", workdir, cache, epochs=3)
    proc = subprocess.Popen(cmd, env=TF_ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not epochs_logged(workdir):
        assert proc.poll() is None, "training ended before it could be killed"
        assert time.time() < deadline, "no epoch finished in 10 minutes"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert max(epochs_logged(workdir)) < 2, "killed too late to rehearse a resume"

    out = subprocess.run(cmd, env=TF_ENV, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-4000:]
    epochs = epochs_logged(workdir)
    assert epochs.count(0) == 1 and sorted(set(epochs)) == [0, 1, 2], epochs
    config = json.loads((workdir / "config.json").read_text())
    assert (config["strategy"], config["replicas"], config["precision"]) == (
        "mirrored", 2, "mixed_float16")
    report = json.loads((workdir / "metrics.json").read_text())
    assert report["robustness"]["test"]["examples"] == 16

    evaluated = subprocess.run([sys.executable, "-m", "dfd.evaluate", f"--workdir={workdir}",
                                "--split=validation", "--robustness=none"], env=TF_ENV,
                               capture_output=True, text=True, timeout=600)
    assert evaluated.returncode == 0, evaluated.stderr[-4000:]
    assert "validation: accuracy" in evaluated.stdout

    assert_exports_in_float32(workdir, tmp_path / "export")


def assert_exports_in_float32(workdir, export):
    exported = subprocess.run([sys.executable, "-m", "dfd.export", f"--workdir={workdir}",
                               f"--out={export}", "--calibration_examples=16",
                               "--int8_max_auc_drop=1", "--int8_max_flip_rate=1"], env=TF_ENV,
                              capture_output=True, text=True, timeout=600)
    assert exported.returncode == 0, exported.stderr[-4000:]
    parity = json.loads((export / "parity.json").read_text())
    # The float32 device file answers as the SavedModel does, whatever the training compute.
    assert parity["tflite"]["float32"]["max_abs_p_difference"] < 1e-3


@pytest.mark.long
@pytest.mark.slow
def test_bfloat16_trains_without_loss_scaling_evaluates_and_exports(tiny_tfds, tmp_path):
    """What auto picks on an A100 or H100, on two logical CPUs: bfloat16 compute, float32
    weights, a plain optimizer (no loss scale to tune or to skip steps on)."""
    import keras

    workdir = tmp_path / "run"
    cmd = gpu_flagfile_run(tiny_tfds / "tfds", workdir, "none", epochs=2,
                           precision="mixed_bfloat16")
    out = subprocess.run(cmd, env=TF_ENV, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-4000:]
    config = json.loads((workdir / "config.json").read_text())
    assert (config["strategy"], config["replicas"], config["precision"]) == (
        "mirrored", 2, "mixed_bfloat16")
    rows = (workdir / "history.csv").read_text().splitlines()
    header = rows[0].split(",")
    losses = [float(row.split(",")[header.index("loss")]) for row in rows[1:]]
    assert len(losses) == 2 and all(0 < loss < 10 for loss in losses), losses
    from dfd.train import models  # noqa: F401  (registers dfd's layers for loading)
    model = keras.saving.load_model(workdir / "final.keras")
    assert not isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert {layer.dtype_policy.compute_dtype for layer in model.layers} >= {"bfloat16"}
    report = json.loads((workdir / "metrics.json").read_text())
    assert report["splits"]["test"]["examples"] == 16
    assert_exports_in_float32(workdir, tmp_path / "export")
