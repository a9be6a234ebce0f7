"""`python -m benchmarks.fuzz` as a user runs it: bounded, seeded, and clean on dfd."""

import json
import subprocess
import sys

import pytest

from conftest import ROOT, TF_ENV

pytestmark = pytest.mark.slow


def test_short_fuzz_pass_finds_no_traceback_hang_or_wrong_status(tiny_export):
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.fuzz", f"--model={tiny_export / 'model_int8.tflite'}",
         "--cases=40", "--max_seconds=300", "--concurrent_worst=4"],
        cwd=ROOT, env=TF_ENV, capture_output=True, text=True, timeout=900)
    cli, server = (json.loads(line) for line in out.stdout.splitlines())
    assert out.returncode == 0, out.stdout
    assert cli["lines"] == cli["cases"] and cli["tracebacks"] == cli["hangs"] == 0
    assert server["wrong_statuses"] == 0, server["first_wrong"]
    assert server["tracebacks"] == server["hangs"] == 0
    assert server["files_left_in_tmpdir_and_cwd"] == 0
    assert server["storage_bytes_written"] in (0, None)


def test_fuzz_refuses_counts_beyond_its_caps():
    out = subprocess.run([sys.executable, "-m", "benchmarks.fuzz", "--model=x.tflite",
                          "--cases=100000"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "outside its cap" in out.stderr
