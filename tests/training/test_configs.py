"""Every shipped flagfile parses and passes the validators, as `dfd.train` would see it."""

import copy
import pathlib

import pytest
from absl import flags

import dfd.flags  # noqa: F401  (defines the flags)

CONFIGS = sorted((pathlib.Path(__file__).resolve().parents[2] / "configs").glob("*.flags"))


def test_the_four_named_flagfiles_exist():
    names = {p.stem for p in CONFIGS}
    assert {"demo", "cpu_small", "gpu", "seed_reproduction"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_flagfile_parses_and_validates(path, tmp_path):
    values = flags.FlagValues()
    for flag in flags.FLAGS.get_flags_for_module(dfd.flags):
        values[flag.name] = copy.deepcopy(flag)  # parses must not leak into each other
    values(["dfd.train", f"--flagfile={path}", f"--data_dir={tmp_path}",
            f"--workdir={tmp_path}/w"])
    values.validate_all_flags()
    assert path.read_text().lstrip().startswith("#"), "header comment with the command"
    assert "python -m dfd.train --flagfile=configs/" in path.read_text()
