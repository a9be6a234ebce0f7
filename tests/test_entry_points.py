"""Every command a user types, under the name the README and docs give it, still starts and
still takes the flags users know (issue 20: the house moved, the doors did not)."""

import pathlib
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, TF_ENV

VENV_BIN = pathlib.Path(sys.executable).parent
"""Where pip put the console scripts of the environment running the tests."""

COMMANDS = {
    # command (module or console script) -> flags its help must list
    ("-m", "dfd.builders.build"): {"manual_dir", "data_dir", "beam_pipeline_options", "overwrite"},
    ("-m", "dfd.builders.demo_data"): {"out", "size", "seed", "zip"},
    ("-m", "dfd.train"): {"flagfile", "data_dir", "workdir", "source_names", "source_weights",
                          "model", "epochs", "augment", "mixed_precision", "distribution",
                          "monitor", "restore_best_weights", "plateau_patience",
                          "data_service", "teacher",
                          "distill_alpha", "distill_temperature"},
    ("-m", "dfd.train.data_service"): {"port", "workers", "dispatcher", "address"},
    ("-m", "dfd.evaluate"): {"workdir", "data_dir", "source_names", "split", "robustness",
                             "robustness_splits"},
    ("-m", "dfd.export"): {"workdir", "out", "data_dir", "calibration_examples", "parity_split",
                           "int8_max_auc_drop", "face_detector", "robustness"},
    ("-m", "dfd.lite", "classify"): {"threshold", "kernels", "faces", "min_face", "explain"},
    ("-m", "dfd.serve"): {"model", "port", "threshold", "faces"},
    ("-m", "dfd.score"): {"model", "output", "faces"},
}
CONSOLE_SCRIPTS = {"dfd-build": "dfd.builders.build", "dfd-train": "dfd.train",
                   "dfd-evaluate": "dfd.evaluate", "dfd-export": "dfd.export",
                   "dfd-lite": "dfd.lite", "dfd-serve": "dfd.serve", "dfd-score": "dfd.score",
                   "dfd-demo-data": "dfd.builders.demo_data"}


ARGPARSE = {"dfd.builders.demo_data", "dfd.lite", "dfd.serve", "dfd.score"}
"""The programs without absl (the device side never imports it): they take --help."""


def help_text(argv: list[str], module: str) -> str:
    """--helpfull for absl programs, --help for argparse ones; both print to stdout."""
    flag = "--help" if module in ARGPARSE else "--helpfull"
    out = subprocess.run([*argv, flag], env=TF_ENV, capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    return out.stdout


def lists(text: str, flag: str) -> bool:
    return f"--{flag}" in text or f"--[no]{flag}" in text


@pytest.mark.parametrize("command", sorted(COMMANDS), ids=lambda c: " ".join(c[1:]))
def test_command_starts_and_lists_the_flags_users_know(command):
    text = help_text([sys.executable, *command], command[1])
    missing = {flag for flag in COMMANDS[command] if not lists(text, flag)}
    assert not missing, (missing, text[-2000:])


@pytest.mark.parametrize("script", sorted(CONSOLE_SCRIPTS))
def test_console_script_is_installed_and_starts(script):
    path = VENV_BIN / script
    assert path.exists(), f"{script} is not installed (pip install -e .)"
    text = help_text([str(path)], CONSOLE_SCRIPTS[script])
    module_flags = next(flags for command, flags in COMMANDS.items()
                        if command[1] == CONSOLE_SCRIPTS[script])
    some = sorted(module_flags)[:2] if script != "dfd-lite" else ["classify"]
    assert all(name in text for name in some), (script, text[-1500:])


def test_tfds_build_still_takes_the_builder_folder():
    """`tfds build builders/deepfake_real_images` (tests/builders/test_tfds_cli.py builds with
    it); here only that the command and the folder are where the docs say."""
    assert (ROOT / "builders" / "deepfake_real_images" /
            "deepfake_real_images_dataset_builder.py").is_file()
    assert (VENV_BIN / "tfds").exists() or shutil.which("tfds")
