"""Entry points hide framework INFO logs unless asked (dfd/quiet.py)."""

import logging
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from dfd import quiet


def record(path: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("absl", level, path, 1, "message", None, None)


def test_framework_info_is_hidden_and_own_info_and_warnings_pass():
    keep = quiet.OwnInfoOnly()
    framework = "/venv/site-packages/tensorflow_datasets/core/dataset_builder.py"
    assert not keep.filter(record(framework))
    assert keep.filter(record(framework, logging.WARNING))
    assert keep.filter(record(str(ROOT / "dfd" / "train.py")))
    assert keep.filter(record(str(ROOT / "builders" / "deepfake_real_images" / "x.py")))


@pytest.mark.parametrize("argv,env,expected", [
    ([], {}, "2"),
    (["--verbosity=0"], {}, None),
    ([], {"DFD_FRAMEWORK_LOGS": "1"}, None),
    ([], {"TF_CPP_MIN_LOG_LEVEL": "0"}, "0"),
])
def test_tensorflow_cpp_level_is_set_on_import_unless_asked(argv, env, expected):
    clean = {k: v for k, v in os.environ.items()
             if k not in ("TF_CPP_MIN_LOG_LEVEL", "DFD_FRAMEWORK_LOGS")}
    out = subprocess.run(
        [sys.executable, "-c", "import os, dfd.quiet; "
         "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))", *argv],
        env={**clean, **env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=60)
    assert out.stdout.strip() == str(expected)


SCRIPT = """
import logging as pylogging
from absl import app, logging
from dfd import quiet

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
