"""Entry points hide framework INFO logs unless asked (dfd/quiet.py)."""

import logging
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from dfd.cli import quiet


def record(path: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("absl", level, path, 1, "message", None, None)


def test_framework_info_is_hidden_and_own_info_and_warnings_pass():
    keep = quiet.OwnInfoOnly()
    framework = "/venv/site-packages/tensorflow_datasets/core/dataset_builder.py"
    assert not keep.filter(record(framework))
    assert keep.filter(record(framework, logging.WARNING))
    assert keep.filter(record(str(ROOT / "dfd" / "train.py")))
    assert keep.filter(record(str(ROOT / "builders" / "deepfake_real_images" / "x.py")))


@pytest.mark.parametrize("argv,requested", [
    ([], False), (["--verbosity=0"], True), (["-v", "1"], True), (["--verbosity", "0"], True),
    (["--verbosity=-1"], False), (["-v=-2"], False), (["--flagfile=x", "--verbosity=x"], True),
])
def test_only_a_non_negative_verbosity_asks_for_framework_logs(argv, requested):
    assert quiet.logs_requested(["prog", *argv]) == requested


@pytest.mark.parametrize("line,level,shown", [
    ("WARNING: All log messages before absl::InitializeLog() is called are written to "
     "STDERR\n", 2, False),
    ("I0000 00:00:1795674709.431991   13757 port.cc:153] oneDNN custom operations are on.\n",
     2, False),
    ("W0000 00:00:1.0 1 x.cc:1] a warning\n", 1, True),
    ("W0000 00:00:1.0 1 x.cc:1] a warning\n", 2, False),
    ("E0000 00:00:1.0 1 cuda_platform.cc:52] failed call to cuInit: INTERNAL\n", 2, False),
    ("E0000 00:00:1.0 1 x.cc:1] a real error\n", 2, True),
    ("I0000 00:00:1.0 1 x.cc:1] everything at level 0\n", 0, True),
    ("ImportError: a Python message, not C++ logging\n", 3, True),
])
def test_startup_lines_are_judged_by_their_level(line, level, shown):
    assert quiet.shown(line, level) == shown


@pytest.mark.slow
@pytest.mark.parametrize("argv,shown", [([], False), (["--verbosity=0"], True)])
def test_entry_point_start_up_is_silent_unless_asked(tmp_path, argv, shown):
    """TensorFlow 2.21 prints Abseil's banner and oneDNN/CUDA INFO lines while it loads,
    whatever TF_CPP_MIN_LOG_LEVEL says; a user of dfd.evaluate sees only dfd's own words."""
    clean = {k: v for k, v in os.environ.items()
             if k not in ("TF_CPP_MIN_LOG_LEVEL", "DFD_FRAMEWORK_LOGS")}
    out = subprocess.run([sys.executable, "-m", "dfd.evaluate", f"--workdir={tmp_path}",
                          *argv], env=clean, capture_output=True, text=True, timeout=300)
    assert "config.json is missing" in out.stderr
    startup = [line for line in out.stderr.splitlines()
               if "absl::InitializeLog" in line or quiet._ABSL_LINE.match(line)]
    assert bool(startup) == shown, out.stderr[-2000:]


@pytest.mark.parametrize("argv,env,expected", [
    ([], {}, "2"),
    (["--verbosity=0"], {}, None),
    (["--verbosity=-1"], {}, "2"),
    ([], {"DFD_FRAMEWORK_LOGS": "1"}, None),
    ([], {"TF_CPP_MIN_LOG_LEVEL": "0"}, "0"),
])
def test_tensorflow_cpp_level_is_set_on_import_unless_asked(argv, env, expected):
    clean = {k: v for k, v in os.environ.items()
             if k not in ("TF_CPP_MIN_LOG_LEVEL", "DFD_FRAMEWORK_LOGS")}
    out = subprocess.run(
        [sys.executable, "-c", "import os, dfd.cli.quiet; "
         "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))", *argv],
        env={**clean, **env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=60)
    assert out.stdout.strip() == str(expected)


SCRIPT = """
import logging as pylogging
from absl import app, logging
from dfd.cli import quiet

def main(argv):
    quiet.quiet_frameworks()
    pylogging.getLogger("tensorflow").info("framework chatter")
    logging.info("own progress")

app.run(main)
"""


@pytest.mark.parametrize("argv,shown", [([], False), (["--verbosity=0"], True)])
def test_absl_entry_point_shows_own_progress_and_framework_logs_on_request(tmp_path, argv,
                                                                           shown):
    script = tmp_path / "entry.py"
    script.write_text(SCRIPT)
    # The script lives outside dfd's folders, so its own line counts as a framework's.
    out = subprocess.run([sys.executable, str(script), *argv], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert ("framework chatter" in out.stderr) == shown
    assert ("own progress" in out.stderr) == shown


OWN_LINES = """
import logging as pylogging
from absl import app
from dfd.cli import quiet

def main(argv):
    quiet.quiet_frameworks()
    own = argv[1]  # a path inside dfd's folders: the lines count as dfd's own
    for level, message in ((pylogging.INFO, "own progress"), (pylogging.WARNING, "own doubt")):
        pylogging.getLogger("dfd").handle(
            pylogging.LogRecord("dfd", level, own, 1, message, None, None))

app.run(main)
"""


@pytest.mark.parametrize("argv,prefixed", [
    ([], False), (["--verbosity=0"], True), (["--showprefixforinfo"], True),
])
def test_own_info_lines_are_plain_messages_unless_logs_are_asked_for(tmp_path, argv,
                                                                       prefixed):
    """`make demo` showed `I1203 06:03:40.896564 140517457750912 file.py:81] ...`: progress
    belongs on the terminal, absl's prefix does not; warnings keep it (W...), and
    --verbosity (or an explicit --showprefixforinfo) gives absl's format back."""
    script = tmp_path / "entry.py"
    script.write_text(OWN_LINES)
    own = ROOT / "dfd" / "train" / "trainer.py"
    out = subprocess.run([sys.executable, str(script), str(own), *argv], capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert out.returncode == 0, out.stderr
    info, warning = out.stderr.splitlines()
    assert info.endswith("] own progress" if prefixed else "own progress")
    assert bool(quiet._ABSL_LINE.match(info)) == prefixed, info
    assert quiet._ABSL_LINE.match(warning) and warning.endswith("trainer.py:1] own doubt")
