"""Every shipped flagfile parses and passes the validators, as `dfd.train` would see it."""

import pathlib

import pytest
from absl import flags

import dfd.train.__main__  # noqa: F401  (defines the trainer's flags in absl's FLAGS)

CONFIGS = sorted((pathlib.Path(__file__).resolve().parents[2] / "configs").glob("*.flags"))


def test_the_four_named_flagfiles_exist():
    names = {p.stem for p in CONFIGS}
    assert {"demo", "cpu_small", "gpu", "seed_reproduction"} <= names


@pytest.fixture
def values():
    """absl's FLAGS with the trainer's flags, back at their defaults after each test."""
    yield flags.FLAGS
    flags.FLAGS.unparse_flags()


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_flagfile_parses_and_validates(path, tmp_path, values):
    values(["dfd.train", f"--flagfile={path}", f"--data_dir={tmp_path}",
            f"--workdir={tmp_path}/w"])
    values.validate_all_flags()
    assert path.read_text().lstrip().startswith("#"), "header comment with the command"
    assert "python -m dfd.train --flagfile=configs/" in path.read_text()


def parsed(name, tmp_path, values):
    path = pathlib.Path(CONFIGS[0]).parent / f"{name}.flags"
    values(["dfd.train", f"--flagfile={path}", f"--data_dir={tmp_path}",
            f"--workdir={tmp_path}/w"])
    return values


def test_seed_reproduction_is_the_seeds_recipe(tmp_path, values):
    """SEED.md's recipe, value by value: the side-by-side comparison means nothing otherwise."""
    v = parsed("seed_reproduction", tmp_path, values)
    assert (v.model, v.image_size, v.batch_size, v.epochs) == ("seed_cnn", 128, 64, 50)
    assert (v.optimizer, v.learning_rate, v.lr_schedule) == ("adam", 1e-4, "constant")
    assert v.augment == [] and v.class_weight == "none" and v.label_smoothing == 0
    assert v.dropout == 0.5
    assert (v.monitor, v.early_stopping_patience, v.restore_best_weights) == ("val_loss", 10, True)
    assert (v.plateau_patience, v.plateau_factor, v.min_learning_rate) == (5, 0.1, 1e-7)


def test_plateau_schedule_needs_a_constant_rate(tmp_path, values):
    with pytest.raises(flags.IllegalFlagValueError, match="plateau_patience"):
        values(["dfd.train", "--plateau_patience=3", "--lr_schedule=cosine",
                f"--data_dir={tmp_path}", f"--workdir={tmp_path}/w"])
        values.validate_all_flags()
