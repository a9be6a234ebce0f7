"""--data_service: training input made by tf.data service workers (dfd.train.data_service).

A dispatcher and two workers run in this process on loopback; the training split has four
files, so each worker gets two.
"""

import dataclasses
import hashlib
import json
import subprocess
import sys
import time

import pytest

from conftest import TF_ENV, TINY_IMAGE_SIZE, free_port


def digests(ds):
    return sorted(hashlib.sha256(image.tobytes()).hexdigest()
                  for images, _ in ds.as_numpy_iterator() for image in images)


def test_every_training_example_once_per_epoch(service, four_file_tfds):
    from dfd.train import pipeline

    cfg = pipeline.PipelineConfig(image_size=TINY_IMAGE_SIZE, batch_size=4, augment=(),
                                  shuffle_buffer=64)
    split = digests(pipeline.build_dataset(str(four_file_tfds), "train", cfg, training=False))
    assert len(split) == 48 and len(set(split)) == 48
    remote = pipeline.build_dataset(str(four_file_tfds), "train",
                                    dataclasses.replace(cfg, data_service=service),
                                    training=True)
    for _ in range(2):  # the second epoch is a second job: the split once more, not twice
        assert digests(remote) == split


def test_the_default_augmentation_runs_on_the_workers(service, four_file_tfds):
    """Augmented pixels cannot be matched to the split's; the count and labels can."""
    from dfd.train import pipeline

    cfg = pipeline.PipelineConfig(image_size=TINY_IMAGE_SIZE, batch_size=4,
                                  shuffle_buffer=64, data_service=service)
    assert cfg.augment == pipeline.DEFAULT_AUGMENT
    remote = pipeline.build_dataset(str(four_file_tfds), "train", cfg, training=True)
    for _ in range(2):
        labels = [float(y) for _, batch in remote.as_numpy_iterator() for y in batch]
        assert len(labels) == 48 and sum(labels) == 24


@pytest.mark.long
@pytest.mark.slow
def test_training_runs_through_the_service(service, four_file_tfds, tmp_path):
    workdir = tmp_path / "run"
    out = subprocess.run(
        [sys.executable, "-m", "dfd.train", f"--data_dir={four_file_tfds}",
         f"--workdir={workdir}", "--model=dfdnet", f"--image_size={TINY_IMAGE_SIZE}",
         "--batch_size=8", "--epochs=2", "--early_stopping_patience=0", "--robustness=none",
         f"--data_service={service}"],
        env=TF_ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    assert json.loads((workdir / "config.json").read_text())["data_service"] == service
    rows = (workdir / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["0", "1"]
    assert "val_auc" in rows[0]
    report = json.loads((workdir / "metrics.json").read_text())
    assert report["splits"]["validation"]["examples"] == 8


def test_a_split_with_fewer_files_than_workers_names_num_shards(service, tiny_tfds, tmp_path):
    """The tiny split is one file and the service has two workers: FILE sharding cannot start."""
    data = tiny_tfds / "tfds"
    out = subprocess.run(
        [sys.executable, "-m", "dfd.train", f"--data_dir={data}", f"--workdir={tmp_path / 'run'}",
         "--model=dfdnet", f"--image_size={TINY_IMAGE_SIZE}", "--batch_size=8", "--epochs=1",
         "--robustness=none", f"--data_service={service}"],
        env=TF_ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-4000:]
    assert "Traceback" not in out.stderr, out.stderr[-4000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f"dfd.train: --data_service={service}: the training split of "
                           f"--data_dir={data} has 1 file(s), fewer than the service's 2 "
                           "workers"), last
    assert "python -m dfd.builders.build --num_shards=2 --overwrite" in last


def test_a_dispatcher_that_is_down_is_named_not_waited_for(four_file_tfds, tmp_path):
    port = free_port()  # nothing listens there
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "dfd.train", f"--data_dir={four_file_tfds}",
         f"--workdir={tmp_path / 'never'}", f"--data_service=grpc://localhost:{port}"],
        env=TF_ENV, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert f"--data_service=grpc://localhost:{port}: no dispatcher answers" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "never").exists()
    assert time.monotonic() - start < 60


@pytest.mark.parametrize("flags,message", [
    (["--data_service=localhost:5050"], "expected grpc://HOST:PORT"),
    (["--cache=/tmp/dfd-cache-x"], "--cache must be memory or none"),
    (["--data_dir={data},{data}", "--source_names=a,b"], "--data_service takes one --data_dir"),
])
def test_bad_data_service_flags_are_named(four_file_tfds, tmp_path, flags, message):
    args = [f"--data_service=grpc://localhost:{free_port()}",
            *(flag.format(data=four_file_tfds) for flag in flags)]
    out = subprocess.run(
        [sys.executable, "-m", "dfd.train", f"--data_dir={four_file_tfds}",
         f"--workdir={tmp_path / 'never'}", *args], env=TF_ENV, capture_output=True,
        text=True, timeout=120)
    assert out.returncode != 0 and message in out.stderr, out.stderr[-2000:]


def test_server_command_serves_until_sigterm_then_exits(tmp_path):
    """The command's server answers on its port and stops on SIGTERM (a benchmark or a
    cluster manager stops it so); it once waited in server.join(), deaf to signals."""
    import signal
    import socket

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "dfd.train.data_service", "dispatcher", f"--port={port}",
         f"--workers=localhost:{free_port()}"], env=TF_ENV, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stderr.read()[-2000:]
            try:
                socket.create_connection(("localhost", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the dispatcher never listened"
                time.sleep(0.5)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        assert f"dispatcher on port {port}" in server.stdout.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_server_command_needs_a_role_and_its_flags():
    for args, message in ((["--port=5050"], "dispatcher or worker"),
                          (["dispatcher", "--port=5050"], "--workers"),
                          (["worker", "--port=5051"], "--dispatcher")):
        out = subprocess.run([sys.executable, "-m", "dfd.train.data_service", *args],
                             env=TF_ENV, capture_output=True, text=True, timeout=120)
        assert out.returncode != 0 and message in out.stderr, (args, out.stderr[-2000:])
