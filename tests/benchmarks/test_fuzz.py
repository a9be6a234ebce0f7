"""`python -m benchmarks.fuzz` as a user runs it: bounded, seeded, and clean on dfd."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, TF_ENV

pytestmark = pytest.mark.slow


@pytest.mark.long
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


READ_AND_COUNT = """
import sys
def written():
    with open("/proc/self/io") as f:
        return int(dict(line.split(": ") for line in f.read().splitlines())["write_bytes"])
before = written()
with open(sys.argv[1], "rb") as f:
    f.read()
print(written() - before)
"""


def test_files_read_first_do_not_count_as_the_servers_writes(tmp_path):
    """What made storage_bytes_written 4096 in a fresh clone: a process's first read of a
    freshly written file updates its access time, charged to that process's write_bytes."""
    from benchmarks import fuzz

    def first_read_cost(path) -> int:
        out = subprocess.run([sys.executable, "-c", READ_AND_COUNT, str(path)],
                             capture_output=True, text=True, timeout=60, check=True)
        return int(out.stdout)

    fresh, settled = tmp_path / "fresh" / "a.py", tmp_path / "settled" / "a.py"
    for path in (fresh, settled):
        path.parent.mkdir()
        path.write_text("x = 1\n")
    os.sync()
    if first_read_cost(fresh) == 0:
        pytest.skip(f"{tmp_path}'s file system does not charge access times to the reader")
    assert fuzz.settle_access_times([str(settled.parent)]) == 1
    assert first_read_cost(settled) == 0
