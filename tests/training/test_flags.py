"""Each program accepts, validates and lists only the flags it uses (dfd.flags.PROGRAMS)."""

import subprocess
import sys

import pytest
from absl import flags

import dfd.flags
from conftest import TF_ENV

OWN_AND_FOREIGN = {
    "dfd.train": ({"epochs", "model", "augment", "monitor", "robustness_splits"},
                  {"split", "out", "parity_split", "calibration_examples"}),
    "dfd.evaluate": ({"split", "robustness", "robustness_splits", "data_dir"},
                     {"epochs", "model", "parity_split", "out", "cache"}),
    "dfd.builders.build": ({"manual_dir", "data_dir", "beam_pipeline_options", "overwrite"},
                           {"workdir", "epochs", "split", "out", "cache"}),
    "dfd.export": ({"out", "parity_split", "calibration_examples", "int8_max_flip_rate",
                    "robustness"}, {"epochs", "split", "robustness_splits", "cache"}),
}


def program_flags(program: str) -> set[str]:
    return set(dfd.flags.define(program, flags.FlagValues()))


def test_every_group_belongs_to_a_program_and_every_program_has_its_folders():
    adopted = {group for groups in dfd.flags.PROGRAMS.values() for group in groups}
    assert adopted == set(dfd.flags.GROUPS)
    for program in dfd.flags.PROGRAMS:
        assert "data_dir" in program_flags(program)
        assert ("workdir" in program_flags(program)) == (program != "build")


@pytest.mark.parametrize("module", sorted(OWN_AND_FOREIGN))
def test_program_defines_its_own_flags_only(module):
    own, foreign = OWN_AND_FOREIGN[module]
    defined = program_flags(module.rsplit(".", 1)[1])
    assert own <= defined and not foreign & defined, (own - defined, foreign & defined)


def test_programs_share_groups_in_one_flag_values():
    values = flags.FlagValues()
    for program in ("evaluate", "export", "build", "train", "evaluate"):
        dfd.flags.define(program, values)  # no DuplicateFlagError for the shared groups
    assert set(values) == set().union(*map(program_flags, dfd.flags.PROGRAMS))


def test_a_foreign_flag_is_refused_by_name():
    values = dfd.flags.define("evaluate", flags.FlagValues())
    with pytest.raises(flags.UnrecognizedFlagError, match="epochs"):
        values(["dfd.evaluate", "--workdir=w", "--epochs=3"])


def test_export_out_must_not_be_a_file(tmp_path):
    taken = tmp_path / "model.json"
    taken.write_text("{}")
    values = dfd.flags.define("export", flags.FlagValues())
    with pytest.raises(flags.IllegalFlagValueError, match="--out must be a folder"):
        values(["dfd.export", f"--workdir={tmp_path}", f"--out={taken}"])


def test_evaluate_refuses_a_training_flag_before_touching_the_workdir(tmp_path):
    workdir = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "dfd.evaluate", f"--workdir={workdir}",
                          "--epochs=3"], env=TF_ENV, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode != 0
    assert "Unknown command line flag 'epochs'" in out.stderr
    assert not workdir.exists()


@pytest.mark.parametrize("module", sorted(OWN_AND_FOREIGN))
def test_helpfull_lists_the_programs_own_flags(module):
    out = subprocess.run([sys.executable, "-m", module, "--helpfull"], env=TF_ENV,
                         capture_output=True, text=True, timeout=300)
    listed = {line.split(":")[0].strip().removeprefix("--").removeprefix("[no]")
              for line in out.stdout.splitlines() if line.startswith("  --")}
    own, foreign = OWN_AND_FOREIGN[module]
    assert own <= listed, (own - listed, out.stderr[-2000:])  # (absl's help exits with 1)
    assert not foreign & listed, foreign & listed
    assert program_flags(module.rsplit(".", 1)[1]) <= listed
