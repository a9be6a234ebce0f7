"""The trainer as a user runs it: a subprocess per run, on the tiny generated dataset."""

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import TF_ENV
from dfd.evaluate import robustness

TINY = ["--model=dfdnet", "--image_size=32", "--batch_size=8", "--augment=flip",
        "--early_stopping_patience=0", "--cache=memory"]
ENV = TF_ENV


def train_cmd(data_dir, workdir, *extra):
    return [sys.executable, "-m", "dfd.train", f"--data_dir={data_dir}",
            f"--workdir={workdir}", *TINY, *extra]


def history_epochs(workdir):
    with open(os.path.join(workdir, "history.csv")) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.mark.long
@pytest.mark.slow
def test_one_epoch_writes_a_complete_workdir(tiny_tfds, tmp_path):
    workdir = tmp_path / "run"
    subprocess.run(train_cmd(tiny_tfds / "tfds", workdir, "--epochs=1"), check=True,
                   env=ENV, capture_output=True, timeout=300)
    for name in ("flags.txt", "config.json", "best.keras", "final.keras", "history.csv",
                 "metrics.json", "roc.png", "pr.png", "confusion_matrix.png",
                 "training_curves.png", "tensorboard"):
        assert (workdir / name).exists(), name
    report = json.loads((workdir / "metrics.json").read_text())
    assert set(report["splits"]) == {"train", "validation", "test"}
    for result in report["splits"].values():
        for key in ("accuracy", "precision", "recall", "auc", "eer", "eer_threshold"):
            assert 0.0 <= result[key] <= 1.0, key
        assert result["loss"] >= 0
        matrix = result["confusion_matrix"]["rows_truth_cols_predicted"]
        assert sum(map(sum, matrix)) == result["examples"]
    assert report["splits"]["test"]["examples"] == 16
    robust = report["robustness"]["test"]  # the full suite on test, by default
    assert set(robust["degradations"]) == set(robustness.SUITES["full"])
    assert robust["examples"] == 16 and robust["worst_auc"] <= robust["mean_auc"]
    assert (workdir / "robustness.png").stat().st_size > 1000
    flags_txt = (workdir / "flags.txt").read_text()
    assert "--image_size=32" in flags_txt and "--model=dfdnet" in flags_txt
    config = json.loads((workdir / "config.json").read_text())
    assert config["strategy"] == "default" and config["precision"] == "float32"


@pytest.mark.long
@pytest.mark.slow
def test_evaluate_command_rewrites_the_report(tiny_tfds, tmp_path):
    workdir = tmp_path / "run"
    subprocess.run(train_cmd(tiny_tfds / "tfds", workdir, "--epochs=1"), check=True,
                   env=ENV, capture_output=True, timeout=300)
    (workdir / "metrics.json").unlink()
    out = subprocess.run([sys.executable, "-m", "dfd.evaluate", f"--workdir={workdir}",
                          "--split=test"], check=True, env=ENV, capture_output=True,
                         text=True, timeout=300)
    assert "test: accuracy" in out.stdout
    assert list(json.loads((workdir / "metrics.json").read_text())["splits"]) == ["test"]


@pytest.mark.long
@pytest.mark.slow
def test_a_run_moves_with_its_data_and_works_from_any_directory(tiny_tfds, tmp_path):
    """Trained with relative paths, then evaluated and exported from another folder, after
    the data moved: config.json holds absolute paths and --data_dir says where data went."""
    shutil.copytree(tiny_tfds / "tfds", tmp_path / "data")
    subprocess.run(train_cmd("data", "run", "--epochs=1"), cwd=tmp_path, check=True, env=ENV,
                   capture_output=True, timeout=300)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data_dir"] == [str(tmp_path / "data")]
    assert f"--data_dir={tmp_path / 'data'}\n" in (tmp_path / "run" / "flags.txt").read_text()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "data").rename(tmp_path / "moved")

    def run(module, *args):
        return subprocess.run([sys.executable, "-m", module, "--workdir=../run", *args],
                              cwd=elsewhere, env=ENV, capture_output=True, text=True,
                              timeout=300)

    lost = run("dfd.evaluate")
    assert lost.returncode == 1
    assert f"the data dir {tmp_path / 'data'} recorded in ../run/config.json" in lost.stderr
    assert "pass --data_dir" in lost.stderr
    typo = run("dfd.evaluate", "--data_dir=../moved", "--split=tset")
    assert typo.returncode == 1 and "--split=tset" in typo.stderr
    found = run("dfd.evaluate", "--data_dir=../moved", "--split=test")
    assert found.returncode == 0, found.stderr[-2000:]
    assert "test: accuracy" in found.stdout
    exported = run("dfd.export", "--data_dir=../moved", "--out=export", "--calibration_examples=8")
    assert exported.returncode == 0, exported.stderr[-2000:]
    # Quiet: the converter's and LiteRT's native INFO lines are held back (native_log).
    assert "fully_quantize" not in exported.stderr, exported.stderr[-2000:]
    assert "XNNPACK delegate" not in exported.stderr, exported.stderr[-2000:]
    parity_report = json.loads((elsewhere / "export" / "parity.json").read_text())
    assert parity_report["examples"] == 16


@pytest.mark.long
@pytest.mark.slow
def test_rerun_after_sigkill_resumes_instead_of_restarting(tiny_tfds, tmp_path):
    workdir = tmp_path / "run"
    cmd = train_cmd(tiny_tfds / "tfds", workdir, "--epochs=4")
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    history = workdir / "history.csv"
    while time.time() < deadline:
        if history.exists() and history_epochs(workdir):
            break
        assert proc.poll() is None, "training ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before_kill = history_epochs(workdir)
    assert done_before_kill and max(done_before_kill) < 3, "killed too late to test resume"
    subprocess.run(cmd, check=True, env=ENV, capture_output=True, timeout=300)
    epochs = history_epochs(workdir)
    assert epochs.count(0) == 1, f"epoch 0 trained again after resume: {epochs}"
    assert sorted(set(epochs)) == [0, 1, 2, 3]
    assert (workdir / "metrics.json").exists()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.long
@pytest.mark.slow
def test_two_workers_train_with_multi_worker_mirrored_strategy(tiny_tfds, tmp_path):
    """Two processes on loopback ports under TF_CONFIG (dfd.train.multi_worker's loop)."""
    workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    workdir = tmp_path / "run"
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**ENV, "TF_CONFIG": json.dumps(tf_config)}
        procs.append(subprocess.Popen(
            train_cmd(tiny_tfds / "tfds", workdir, "--epochs=1", "--cache=none"), env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-3000:]
    config = json.loads((workdir / "config.json").read_text())
    assert config["strategy"] == "multi_worker" and config["replicas"] == 2
    assert (workdir / "final.keras").exists() and (workdir / "metrics.json").exists()
    assert (workdir / "best.keras").exists() and history_epochs(workdir) == [0]
    assert (workdir / "worker1" / "final.keras").exists()  # the non-chief wrote privately
    assert not (workdir / "worker1" / "metrics.json").exists()


@pytest.mark.parametrize("flag,message", [
    ("--image_size=7", "--image_size must be between"),
    ("--augment=flip,sharpen", "--augment may only name"),
    ("--model=resnet9000", "resnet9000"),
    ("--label_smoothing=0.9", "--label_smoothing"),
    ("--cache=/tmp/", "--cache must be"),
    ("--eval_split=test", "--eval_split must not be test"),
    ("--train_split=tain", "--train_split=tain: deepfake_real_images in "),
    ("--eval_split=valid", "has no such split (it has train, validation, test)"),
    ("--robustness_splits=validation,tset", "--robustness_splits=tset: deepfake_real_images"),
])
def test_bad_flag_fails_before_any_work_naming_the_flag(tiny_tfds, tmp_path, flag, message):
    workdir = tmp_path / "never"
    out = subprocess.run(train_cmd(tiny_tfds / "tfds", workdir, flag), env=ENV,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert message in out.stderr
    assert not workdir.exists()


def test_missing_data_dir_is_named(tmp_path):
    out = subprocess.run([sys.executable, "-m", "dfd.train", f"--data_dir={tmp_path}/nope",
                          f"--workdir={tmp_path}/w"], env=ENV, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and f"--data_dir={tmp_path}/nope does not exist" in out.stderr


@pytest.mark.long
@pytest.mark.slow
def test_pretrained_model_trains_head_first_with_the_backbone_frozen(tiny_tfds, tmp_path):
    """--init=imagenet --freeze_epochs=1: after epoch 1 the backbone, BatchNorm statistics
    included, is still exactly ImageNet's; epoch 2 fine-tunes it."""
    import keras
    import numpy as np

    from conftest import require_pretrained_weights
    from dfd.train import models
    require_pretrained_weights()
    cache = tmp_path / "cache"
    env = {**ENV, "DFD_CACHE_DIR": str(cache)}
    workdir = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "dfd.train", f"--data_dir={tiny_tfds / 'tfds'}",
                    f"--workdir={workdir}", "--model=efficientnet_lite0", "--image_size=32",
                    "--batch_size=8", "--epochs=2", "--freeze_epochs=1", "--augment=",
                    "--early_stopping_patience=0"], check=True, env=env, capture_output=True,
                   timeout=600)
    assert history_epochs(workdir) == [0, 1]
    (imagenet,) = cache.glob("efficientnet_lite0-*.weights.h5")
    reference = models.build("efficientnet_lite0", 32).get_layer(models.BACKBONE)
    reference.load_weights(str(imagenet))
    after_frozen = models.build("efficientnet_lite0", 32)
    after_frozen.load_weights(str(workdir / "backup" / "frozen_backbone.done.weights.h5"))
    for expected, frozen in zip(reference.weights,
                                after_frozen.get_layer(models.BACKBONE).weights):
        np.testing.assert_array_equal(frozen.numpy(), expected.numpy(), err_msg=frozen.path)
    final = keras.models.load_model(workdir / "final.keras")
    changed = [w.path for w, e in zip(final.get_layer(models.BACKBONE).trainable_weights,
                                      reference.trainable_weights)
               if not np.array_equal(w.numpy(), e.numpy())]
    assert changed, "the fine-tuning phase must train the backbone"
