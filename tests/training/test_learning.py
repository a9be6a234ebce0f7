"""Training learns, and its callbacks do what the flags say, on tasks small enough for CI.

The shared tiny dataset (conftest `tiny_tfds`) is near chance on purpose, so it cannot show
that the trainer learns anything. These datasets carry a cue a small model finds in a few
epochs: a white square in the middle of the "fake" images. The same cue on the other class
of the validation split makes validation worse with every epoch the model learns, which is
how early stopping, the plateau schedule and best.keras across a resume are made to act.
"""

import csv
import hashlib
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, TF_ENV, encode, textured_rgb, write_kaggle_folder

SIDE = 32
PER_CLASS = {"Train": 32, "Validation": 16, "Test": 16}
CUE = slice(10, 22)
"""Rows and columns of the white square: 12 of 32 pixels, in the centre crop's middle."""

SMALL = ["--model=dfdnet", f"--image_size={SIDE}", "--batch_size=8", "--augment=",
         "--robustness=none"]


def cue_image(seed: int, cue: bool) -> bytes:
    pixels = textured_rgb(SIDE, SIDE, seed)
    if cue:
        pixels[CUE, CUE] = 255
    return encode(pixels, "JPEG", quality=90)


def build_dataset(base, has_cue, num_shards: int | None = None) -> str:
    """Builds deepfake_real_images from generated images; `has_cue(split, folder, i)` says
    which carry the square. Returns the TFDS data dir."""
    import tensorflow_datasets as tfds

    from dfd.builders.deepfake_real_images import Builder

    files, seed = {}, 0
    for split, count in PER_CLASS.items():
        for folder in ("Real", "Fake"):
            for i in range(count):
                seed += 1
                files[f"{split}/{folder}/{folder.lower()}_{i}.jpg"] = cue_image(
                    seed, has_cue(split, folder, i))
    source = write_kaggle_folder(base / "source", files)
    builder = Builder(data_dir=str(base / "tfds"))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(source),
                                                     num_shards=num_shards))
    return str(base / "tfds")


@pytest.fixture(scope="module")
def cue_tfds(tmp_path_factory):
    """Fakes carry the square in every split."""
    return build_dataset(tmp_path_factory.mktemp("cue"),
                         lambda split, folder, i: folder == "Fake")


@pytest.fixture(scope="module")
def shuffled_tfds(tmp_path_factory):
    """The same images with the square on every other image of both classes: the labels
    say nothing the pixels show, so nothing can be learned."""
    return build_dataset(tmp_path_factory.mktemp("shuffled"),
                         lambda split, folder, i: i % 2 == 0)


@pytest.fixture(scope="module")
def misleading_validation_tfds(tmp_path_factory):
    """Fakes carry the square in train and test, reals in validation: each epoch that learns
    the cue raises the validation loss."""
    return build_dataset(tmp_path_factory.mktemp("misleading"),
                         lambda split, folder, i: folder == ("Real" if split == "Validation"
                                                             else "Fake"))


def train_command(data_dir, workdir, *flags) -> list[str]:
    return [sys.executable, "-m", "dfd.train", f"--data_dir={data_dir}",
            f"--workdir={workdir}", *flags]


def train(data_dir, workdir, *flags):
    out = subprocess.run(train_command(data_dir, workdir, *flags), cwd=ROOT, env=TF_ENV,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def history(workdir) -> list[dict]:
    """history.csv's finished rows (one being written as it is read is left out)."""
    with open(workdir / "history.csv") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)
                if None not in row.values() and "" not in row.values()]


LEARN = [*SMALL, "--epochs=8", "--learning_rate=3e-3", "--early_stopping_patience=0"]


@pytest.fixture(scope="module")
def learned(cue_tfds, tmp_path_factory) -> dict:
    """The learnable task trained by the local input pipeline: metrics.json's splits."""
    workdir = tmp_path_factory.mktemp("learned") / "run"
    train(cue_tfds, workdir, *LEARN)
    return json.loads((workdir / "metrics.json").read_text())["splits"]


def test_a_learnable_task_reaches_auc_095(learned):
    assert learned["validation"]["auc"] >= 0.95, learned["validation"]
    assert learned["test"]["auc"] >= 0.95, learned["test"]


def test_the_task_learns_as_well_through_tf_data_service(service, learned, tmp_path):
    """The same run with its input decoded on two tf.data service workers: the same figures
    as the local pipeline, within what a different shuffle order allows. A service that
    dropped, repeated or mislabelled examples would not learn the cue this well."""
    # Two files per split, one for each worker (the service shards by file).
    two_files = build_dataset(tmp_path / "data", lambda split, folder, i: folder == "Fake",
                              num_shards=2)
    train(two_files, tmp_path / "run", *LEARN, f"--data_service={service}")
    served = json.loads((tmp_path / "run" / "metrics.json").read_text())["splits"]
    for split in ("validation", "test"):
        assert served[split]["examples"] == learned[split]["examples"]
        assert served[split]["auc"] >= 0.95, (split, served[split])
        assert abs(served[split]["auc"] - learned[split]["auc"]) <= 0.05, (
            split, served[split]["auc"], learned[split]["auc"])


@pytest.mark.long
def test_the_same_task_with_shuffled_labels_stays_near_chance(shuffled_tfds, tmp_path):
    """The control of the test above: the same run, on labels the pixels do not show,
    must not pass it (or AUC >= 0.95 would prove nothing)."""
    train(shuffled_tfds, tmp_path / "run", *LEARN)
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())["splits"]
    assert report["test"]["auc"] < 0.8, report["test"]


def weights(path) -> list[np.ndarray]:
    import keras
    return keras.models.load_model(path).get_weights()


def test_seed_recipe_stops_early_restores_the_best_weights_and_lowers_the_rate(
        misleading_validation_tfds, tmp_path):
    """configs/seed_reproduction.flags (val_loss, best weights restored, plateau x0.1 on a
    constant rate), its patiences shortened to fit a few epochs."""
    import keras
    workdir = tmp_path / "run"
    epochs, patience, factor = 10, 3, 0.1
    train(misleading_validation_tfds, workdir,
          f"--flagfile={ROOT / 'configs' / 'seed_reproduction.flags'}",
          f"--image_size={SIDE}", "--batch_size=8", "--robustness=none",
          f"--epochs={epochs}", f"--early_stopping_patience={patience}",
          "--plateau_patience=1")
    rows = history(workdir)
    losses = [row["val_loss"] for row in rows]
    best = int(np.argmin(losses))
    # Early stopping fired: `patience` epochs after the best one, before --epochs.
    assert len(rows) == best + patience + 1 < epochs, losses
    # ... and put the best epoch's weights back: final.keras is best.keras's model.
    final, chosen = weights(workdir / "final.keras"), weights(workdir / "best.keras")
    assert len(final) == len(chosen)
    for f, c in zip(final, chosen):
        np.testing.assert_array_equal(f, c)
    # The plateau schedule multiplied the rate by --plateau_factor after each flat epoch,
    # never below --min_learning_rate; the saved optimizer holds the lowered rate.
    rates = [row["learning_rate"] for row in rows]
    assert rates[0] == pytest.approx(1e-4)  # the recipe's
    drops = [b / a for a, b in zip(rates, rates[1:]) if b != a]
    assert drops and all(d == pytest.approx(factor) for d in drops), rates
    saved = float(keras.models.load_model(workdir / "final.keras").optimizer.learning_rate)
    assert 1e-7 <= saved <= rates[-1] < rates[0]


def file_state(path) -> tuple[int, str]:
    return path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.long
def test_a_resumed_run_keeps_best_keras_from_before_the_kill(misleading_validation_tfds,
                                                            tmp_path):
    """Killed after its best epoch, rerun with the same command: the epochs after the
    resume are all worse, so best.keras must stay the file written before the kill
    (dfd.train.trainer.best_so_far gives ModelCheckpoint the earlier best)."""
    workdir = tmp_path / "run"
    epochs = 6
    flags = [*SMALL, f"--epochs={epochs}", "--monitor=val_loss", "--lr_schedule=constant",
             "--learning_rate=1e-3", "--early_stopping_patience=0"]
    proc = subprocess.Popen(train_command(misleading_validation_tfds, workdir, *flags),
                            cwd=ROOT, env=TF_ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    # Two epochs: the first two are both near chance (either may be the better by 1e-5);
    # from the third on, the learned cue makes validation clearly worse.
    while not ((workdir / "history.csv").exists() and len(history(workdir)) >= 2):
        assert proc.poll() is None, "training ended before it could be killed"
        assert time.time() < deadline, "two epochs took over 600 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = history(workdir)
    assert len(before) < epochs - 1, "killed too late to test a resume"
    best_before = min(row["val_loss"] for row in before)
    kept = file_state(workdir / "best.keras")

    train(misleading_validation_tfds, workdir, *flags)  # the same command
    rows = history(workdir)
    assert [int(row["epoch"]) for row in rows] == list(range(epochs)), rows
    resumed = [row["val_loss"] for row in rows[len(before):]]
    assert min(resumed) > best_before, ("the task should make every resumed epoch worse",
                                        best_before, resumed)
    assert file_state(workdir / "best.keras") == kept, "a worse epoch replaced best.keras"
