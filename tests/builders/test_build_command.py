"""`python -m dfd.builders.build`: the build `make demo` runs, progress and results only."""

import logging
import os
import re
import subprocess
import sys

import pytest
import tensorflow_datasets as tfds

from conftest import ROOT, bad_collection, write_kaggle_folder
from dfd.builders.deepfake_real_images import Builder, split_report

QUIET_ENV = {k: v for k, v in os.environ.items()
             if k not in ("TF_CPP_MIN_LOG_LEVEL", "DFD_FRAMEWORK_LOGS")}
"""A user's environment: nothing set that quiets TensorFlow or asks for its logs."""


def build_command(*args, env=None):
    return subprocess.run([sys.executable, "-m", "dfd.builders.build", *map(str, args)],
                          env={**QUIET_ENV, "CUDA_VISIBLE_DEVICES": "", **(env or {})},
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("source")
    write_kaggle_folder(root, bad_collection())
    return root


def test_build_shows_its_own_lines_only_and_ends_with_the_counts(source, tmp_path):
    out = build_command(f"--manual_dir={source}", f"--data_dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-3000:]
    # Every line on stderr is the builder's own (skips, conversions, per-split counts):
    # no TFDS INFO, progress bar, DatasetInfo dump or TensorFlow start-up line. Progress
    # is plain text; only warnings (the skipped files) keep absl's W... prefix.
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    progress = [line for line in lines if line.startswith("deepfake_real_images: ")]
    warnings = [line for line in lines if re.match(r"W\d{4} .*\] deepfake_real_images: ", line)]
    assert progress and len(progress) + len(warnings) == len(lines), out.stderr[-3000:]
    assert any("skipped train/fake/truncated.jpg" in line for line in warnings)
    assert "tfds.core.DatasetInfo" not in out.stdout and "Downloading" not in out.stdout
    lines = out.stdout.splitlines()
    assert lines[0] == f"deepfake_real_images/1.1.0 in {tmp_path}/deepfake_real_images/1.1.0"
    assert ("  train             8 examples  (6 kept as they are, 2 converted to PNG, 4 skipped, "
            "0 ignored)") in lines
    assert lines[-1].startswith("  built in ")
    builder = Builder(data_dir=str(tmp_path))
    assert builder.info.splits["train"].num_examples == 8
    names = {ex["file_name"].decode() for ex in tfds.as_numpy(builder.as_dataset("test"))}
    assert names == {"real_0.jpg", "fake_0.jpg"}


def test_verbosity_brings_tfds_logs_back(source, tmp_path):
    out = build_command(f"--manual_dir={source}", f"--data_dir={tmp_path}", "--verbosity=0")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Generating dataset deepfake_real_images" in out.stderr  # TFDS's own INFO line


def test_a_built_dataset_is_reused_unless_overwrite(source, tmp_path):
    assert build_command(f"--manual_dir={source}", f"--data_dir={tmp_path}").returncode == 0
    again = build_command(f"--manual_dir={source}", f"--data_dir={tmp_path}")
    assert again.returncode == 0 and "already built: nothing done" in again.stdout
    forced = build_command(f"--manual_dir={source}", f"--data_dir={tmp_path}", "--overwrite")
    assert forced.returncode == 0 and "built in" in forced.stdout


@pytest.mark.parametrize("folder", ["nowhere", "empty"])
def test_a_missing_or_empty_source_is_named_before_anything_is_written(tmp_path, folder):
    (tmp_path / "empty").mkdir()
    out = build_command(f"--manual_dir={tmp_path / folder}", f"--data_dir={tmp_path / 'out'}")
    assert out.returncode != 0
    assert "--manual_dir must be an existing folder" in out.stderr
    assert not (tmp_path / "out").exists()


def test_a_folder_without_the_kaggle_layout_gets_the_builders_message(tmp_path):
    (tmp_path / "download").mkdir()
    (tmp_path / "download" / "notes.txt").write_text("not the dataset")
    out = build_command(f"--manual_dir={tmp_path / 'download'}", f"--data_dir={tmp_path / 'out'}")
    assert out.returncode == 1
    assert f"dfd.builders.build: {tmp_path / 'download'} holds neither Dataset/" in out.stderr
    assert "Traceback" not in out.stderr


def test_progress_is_logged_on_time_not_per_file(caplog):
    now = [0.0]
    progress = split_report.Progress("train", every=30.0, clock=lambda: now[0])
    with caplog.at_level(logging.INFO):
        for _ in range(1000):  # 1000 files in 29 s: quiet
            now[0] += 0.029
            progress.tick()
        assert not caplog.records
        now[0] += 2.0
        progress.tick()
    (record,) = caplog.records
    assert record.getMessage() == ("deepfake_real_images: train: 1001 files vetted "
                                   "(32 files/s)")
