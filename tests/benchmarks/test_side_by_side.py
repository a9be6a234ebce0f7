"""The teacher/student side-by-side benchmark on the tiny generated run: every figure it
prints is the one the parts it is made of give for the same files."""

import json
import subprocess
import sys

import pytest

from conftest import ROOT, SHARED_DATA, TF_ENV
from benchmarks.generalization import int8_figures
from export import graph_cost


@pytest.mark.long
def test_each_run_gets_its_int8_auc_per_source_its_cost_and_its_photo_times(
        tiny_export, tiny_tfds, shared_set, tmp_path):
    shared_set("celeba_stylegan")  # the 5-face photo is made of real test faces
    run_dir = tiny_export.parent / "run"
    data_dir = tiny_tfds / "tfds"
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.side_by_side", f"--run=a={run_dir}",
         f"--run=b={run_dir}", f"--export=a={tiny_export}", f"--export=b={tiny_export}",
         f"--data_dir=tfds={data_dir}", f"--shared={SHARED_DATA}", "--repeats=3",
         "--photo_repeats=1", f"--out={tmp_path / 'side.json'}"],
        cwd=ROOT, env=TF_ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = json.loads((tmp_path / "side.json").read_text())["rows"]
    assert [r["run"] for r in rows] == ["a", "b"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    row = rows[0]
    # A source is named after its data dir's last folder ("tfds"), as dfd.train names it.
    assert row["sources"]["tfds"]["test_auc_int8"] == pytest.approx(
        int8_figures(str(tiny_export), str(data_dir), "test")["auc"])
    assert row["macs"] == graph_cost.count(str(tiny_export / "model_int8.tflite"))["macs"] > 0
    assert row["int8_bytes"] == (tiny_export / "model_int8.tflite").stat().st_size
    float_auc = metrics["sources"]["tfds"]["splits"]["test"]["auc"]
    assert row["sources"]["tfds"]["test_auc"] == float_auc
    assert row["photo_explain_ms"] > row["photo_ms"] > 0 and row["cold_start_s"] > 0
    assert "| a |" in out.stdout and "| b |" in out.stdout


def test_a_run_without_an_export_is_named(tmp_path):
    (tmp_path / "run").mkdir()
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.side_by_side", f"--run=student={tmp_path / 'run'}",
         f"--data_dir=x={tmp_path}", f"--shared={tmp_path}"],
        cwd=ROOT, env=TF_ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert f"--run=student={tmp_path / 'run'}" in out.stderr and "dfd.export" in out.stderr
