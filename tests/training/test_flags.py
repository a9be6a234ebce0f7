"""Each program accepts, validates and lists only the flags it uses: a binary owns its flags,
the shared ones come from dfd.cli.run_flags (absl shows a program only what it imports)."""

import subprocess
import sys

import functools

import pytest

from conftest import TF_ENV

OWN_AND_FOREIGN = {
    "dfd.train": ({"epochs", "model", "augment", "monitor", "robustness_splits",
                   "data_service"},
                  {"split", "out", "parity_split", "calibration_examples", "port"}),
    "dfd.evaluate": ({"split", "robustness", "robustness_splits", "data_dir"},
                     {"epochs", "model", "parity_split", "out", "cache"}),
    "dfd.builders.build": ({"manual_dir", "data_dir", "beam_pipeline_options", "overwrite"},
                           {"workdir", "epochs", "split", "out", "cache"}),
    "dfd.export": ({"out", "parity_split", "calibration_examples", "int8_max_flip_rate",
                    "robustness"}, {"epochs", "split", "robustness_splits", "cache"}),
}
SERVERS = {
    "dfd.train.data_service": ({"port", "workers", "dispatcher", "address"},
                               {"epochs", "model", "workdir", "data_dir", "cache",
                                "data_service"}),
}
"""Programs that read no data dir of their own: tf.data service's dispatcher and workers run
the pipeline a trainer sends them."""


@functools.cache
def listed_flags(module: str) -> frozenset[str]:
    """The flags `python -m module --helpfull` lists (absl's help exits with 1)."""
    out = subprocess.run([sys.executable, "-m", module, "--helpfull"], env=TF_ENV,
                         capture_output=True, text=True, timeout=300)
    listed = {line.split(":")[0].strip().removeprefix("--").removeprefix("[no]")
              for line in out.stdout.splitlines() if line.startswith("  --")}
    assert listed, out.stderr[-2000:]
    return frozenset(listed)


def test_every_program_has_its_folders():
    for module in OWN_AND_FOREIGN:
        assert "data_dir" in listed_flags(module)
        assert ("workdir" in listed_flags(module)) == (module != "dfd.builders.build")


def test_a_foreign_flag_is_refused_by_name(tmp_path):
    out = subprocess.run([sys.executable, "-m", "dfd.export", f"--workdir={tmp_path}",
                          "--epochs=3"], env=TF_ENV, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode != 0 and "Unknown command line flag 'epochs'" in out.stderr


def test_export_out_must_not_be_a_file(tmp_path):
    taken = tmp_path / "model.json"
    taken.write_text("{}")
    out = subprocess.run([sys.executable, "-m", "dfd.export", f"--workdir={tmp_path}",
                          f"--out={taken}"], env=TF_ENV, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode != 0 and "--out must be a folder" in out.stderr


def test_building_parses_flags_without_keras():
    """`dfd.builders.build` owns its four flags: parsing them loads no Keras (the old shared
    flags module imported the model zoo for every program)."""
    out = subprocess.run(
        [sys.executable, "-c", "import sys, dfd.builders.build as b; "
         "from absl import flags; flags.FLAGS(['x', '--manual_dir=.', '--data_dir=out']); "
         "print('keras' in sys.modules)"], env=TF_ENV, capture_output=True, text=True,
        timeout=300)
    assert out.stdout.strip() == "False", out.stderr[-2000:]


def test_evaluate_refuses_a_training_flag_before_touching_the_workdir(tmp_path):
    workdir = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "dfd.evaluate", f"--workdir={workdir}",
                          "--epochs=3"], env=TF_ENV, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode != 0
    assert "Unknown command line flag 'epochs'" in out.stderr
    assert not workdir.exists()


@pytest.mark.parametrize("module", sorted({**OWN_AND_FOREIGN, **SERVERS}))
def test_helpfull_lists_the_programs_own_flags(module):
    own, foreign = {**OWN_AND_FOREIGN, **SERVERS}[module]
    listed = listed_flags(module)
    assert own <= listed, own - listed
    assert not foreign & listed, foreign & listed
