"""The flags that more than one TensorFlow-side binary reads, defined here once.

Each binary (`python -m dfd.train`, `dfd.evaluate`, `dfd.export`) owns its own flags as
module-level FlagHolders and calls the definers below for the shared ones it reads, so absl
shows each program only its own flags, and a flag another program owns
(`python -m dfd.evaluate --epochs=3`) is refused as unknown instead of being silently ignored.
No TensorFlow here: parsing a command line never loads it.

Validators run when absl parses the command line, so a bad value stops the program before any
data is read or anything is written, with a message that names the flag.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Sequence

from absl import app, flags

ROBUSTNESS_SUITES = ("none", "fast", "full")


def define_run_folder(workdir_help: str = "Run folder: checkpoints, logs, flags, metrics, "
                      "plots.") -> tuple[flags.FlagHolder, flags.FlagHolder]:
    """--workdir and --data_dir: where a training run lives and the dataset(s) it reads."""
    workdir = flags.DEFINE_string("workdir", None, workdir_help)
    data_dir = flags.DEFINE_list(
        "data_dir", None,
        "TFDS data dir(s) built by dfd.builders.build or `tfds build`, comma-separated, one "
        "per source: dfd.train trains on their union; dfd.evaluate judges the run on these "
        "sources instead of its own (when the data moved, or on sources it never saw); "
        "dfd.export reads them in place of the run's own, one for one.")
    flags.register_validator(
        "data_dir", lambda v: v is None or (len(v) > 0 and all(v)),
        "--data_dir must name at least one folder and no empty entry.")
    return workdir, data_dir


def define_source_names() -> flags.FlagHolder:
    """--source_names: what reports call each --data_dir entry."""
    return flags.DEFINE_list(
        "source_names", None,
        "A name for each --data_dir entry, in order (default: each data dir's last folder "
        "name); reports give every figure per source under these names.")


def define_robustness(with_splits: bool = True):
    """--robustness (which suite) and, for the programs that choose splits, --robustness_splits."""
    suite = flags.DEFINE_enum(
        "robustness", "full", list(ROBUSTNESS_SUITES),
        "Robustness suite (dfd.evaluate.robustness): none, fast (5 degradations) or full (12).")
    if not with_splits:
        return suite
    splits = flags.DEFINE_list(
        "robustness_splits", ["test"],
        "Splits the robustness suite runs on (add validation to select recipes).")
    return suite, splits


def flag_values_of(*modules) -> dict:
    """{name: value} of every flag the given modules define, as a run records it."""
    values = {}
    for module in modules:
        for flag in flags.FLAGS.get_flags_for_module(module):
            values[flag.name] = flag.value
    return values


def write_flagfile(path: str, *modules) -> str:
    """Every flag of `modules` with its value, as a flagfile that repeats the run exactly."""
    with open(path, "w") as f:
        for module in modules:
            for flag in flags.FLAGS.get_flags_for_module(module):
                if flag.value is not None:
                    f.write(flag.serialize() + "\n")
    return path


def run_program(main: Callable, required: Sequence[str] = ()) -> None:
    """absl's start of a binary: its flags are the key flags `--helpshort` lists (also when
    it starts through a console script, whose main module is the script's wrapper), the
    required ones are marked, then app.run parses and calls main."""
    module = sys.modules[main.__module__]
    flags.adopt_module_key_flags(module)
    flags.adopt_module_key_flags(sys.modules[__name__])
    if required:
        flags.mark_flags_as_required(list(required))
    app.run(main)
