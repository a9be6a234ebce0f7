"""Native libraries' INFO lines on fd 2 are held back; everything else comes through."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT

SCRIPT = r"""
import os, sys
from dfd.common import native_log
print("before", file=sys.stderr, flush=True)
try:
    with native_log.held_stderr():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"a native warning the user must see\n")
        print("python's own stderr line", file=sys.stderr)
        os.write(2, b"fully_quantize: 0, inference_type: 6\n")
        raise RuntimeError("the native call failed")
except RuntimeError as e:
    print("caught:", e, file=sys.stderr)
"""


@pytest.mark.parametrize("wanted", [False, True])
def test_only_the_known_info_lines_are_held_back_even_when_the_call_raises(wanted):
    env = {k: v for k, v in os.environ.items() if k != "DFD_FRAMEWORK_LOGS"}
    if wanted:
        env["DFD_FRAMEWORK_LOGS"] = "1"
    out = subprocess.run([sys.executable, "-c", SCRIPT], env={**env, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    kept = ["before", "a native warning the user must see", "python's own stderr line",
            "caught: the native call failed"]
    if wanted:
        assert lines == [kept[0], "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
                         kept[1], kept[2], "fully_quantize: 0, inference_type: 6", kept[3]]
    else:
        assert lines == kept
