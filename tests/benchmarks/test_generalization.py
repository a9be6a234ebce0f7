"""The leave-one-family-out benchmark end to end on two tiny generated families: it trains
without the left-out one, judges it float and int8, and says which rows were left out."""

import json
import subprocess
import sys

import pytest

from conftest import ROOT, TF_ENV


@pytest.mark.long
@pytest.mark.slow
def test_leave_one_family_out_on_two_tiny_families(tmp_path):
    from dfd.builders import demo_data

    for seed, family in enumerate(("swaps", "gans")):
        demo_data.generate(str(tmp_path / "shared" / family),
                           {"Train": 16, "Validation": 6, "Test": 6}, size=48, seed=seed + 3)
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.generalization", f"--shared={tmp_path / 'shared'}",
         "--families=swaps,gans", "--only_left_out=swaps", f"--out={tmp_path / 'lofo'}",
         "--epochs=1", "--recipe=tiny:configs/demo.flags:--image_size=32:--batch_size=8",
         "--recipe=student:configs/demo.flags:--image_size=32:--batch_size=8:--teacher=@tiny"],
        cwd=ROOT, env=TF_ENV, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = json.loads((tmp_path / "lofo" / "generalization.json").read_text())["rows"]
    left_out = [r for r in rows if r["trained_on"] == "gans"]
    assert [(r["recipe"], r["family"]) for r in left_out] == [("tiny", "swaps"), ("student", "swaps")]
    assert not any(r["trained_on_it"] for r in left_out)
    for r in left_out:
        assert 0 <= r["test_int8_auc"] <= 1 and 0 <= r["validation_auc"] <= 1
        assert 0 <= r["test_int8_fpr"] <= 1
    trained_all = [r for r in rows if r["trained_on"] == "swaps+gans" and r["recipe"] == "tiny"]
    assert sorted(r["family"] for r in trained_all) == ["gans", "swaps"]
    assert all(r["trained_on_it"] and r["test_robust_mean_auc"] is not None
               for r in trained_all)
    assert "swaps (left out)" in out.stdout
    # the left-out family was judged by the run, never trained on: its run's config says so
    config = json.loads((tmp_path / "lofo" / "tiny" / "without_swaps" / "config.json")
                        .read_text())
    assert [s["name"] for s in config["sources"]] == ["gans"]
    # the student left out swaps too, distilled from the teacher that never saw them
    student = json.loads((tmp_path / "lofo" / "student" / "without_swaps" / "config.json")
                         .read_text())
    assert student["teacher"] == [str(tmp_path / "lofo" / "tiny" / "without_swaps")]
    assert [s["name"] for s in student["sources"]] == ["gans"]


def test_a_student_recipe_names_its_teachers_run_for_the_same_families(tmp_path):
    from benchmarks.generalization import resolve_runs

    teacher = tmp_path / "default" / "without_rff160"
    with pytest.raises(SystemExit, match="recipe 'default'.*has not finished.*earlier"):
        resolve_runs(["--teacher=@default"], str(tmp_path), "without_rff160")
    teacher.mkdir(parents=True)
    (teacher / "metrics.json").write_text("{}")
    assert resolve_runs(["--teacher=@default", "--epochs=3"], str(tmp_path),
                        "without_rff160") == [f"--teacher={teacher}", "--epochs=3"]
    # an ensemble teacher: each @NAME of the list, a plain folder left as it is
    other = tmp_path / "blends" / "without_rff160"
    with pytest.raises(SystemExit, match="recipe 'blends'"):
        resolve_runs(["--teacher=@default,@blends"], str(tmp_path), "without_rff160")
    other.mkdir(parents=True)
    (other / "metrics.json").write_text("{}")
    assert resolve_runs(["--teacher=@default,@blends,/x/run"], str(tmp_path),
                        "without_rff160") == [f"--teacher={teacher},{other},/x/run"]
