"""Every benchmark starts as BUILD_NOTES.md runs it, `python -m benchmarks.<name>` from the
repository's root: its imports (dfd, tests/support) resolve and it parses its flags."""

import subprocess
import sys

import pytest

from conftest import ROOT, TF_ENV

BENCHMARKS = sorted(path.stem for path in (ROOT / "benchmarks").glob("*.py")
                    if path.stem != "__init__")


def test_the_benchmarks_are_the_ones_listed_here():
    assert BENCHMARKS == ["beam", "beam_report", "calibration", "edge", "explain", "face_masks",
                          "faces", "fuzz",
                          "generalization",
                          "input_pipeline",
                          "kernel_agreement", "quality", "serve_load", "side_by_side"]


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_prints_its_usage(name):
    out = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", "--help"], cwd=ROOT,
                         env=TF_ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("usage:"), out.stdout[:200]
