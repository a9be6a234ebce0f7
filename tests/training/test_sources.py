"""Training and evaluating on several sources at once: the mixed stream follows the weights,
the report gives every figure per source and for the union, the run and the bundle name every
source, and a data dir that cannot be read is refused in one line before anything is written."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import TF_ENV, TINY_IMAGE_SIZE, run_module


@pytest.fixture(scope="session")
def second_tfds(tmp_path_factory):
    """Another built data dir, from other generated images (the second source)."""
    import tensorflow_datasets as tfds

    from dfd.builders import demo_data
    from dfd.builders.deepfake_real_images import Builder

    base = tmp_path_factory.mktemp("second_tfds")
    demo_data.generate(str(base / "source"), {"Train": 12, "Validation": 6, "Test": 6},
                       size=48, seed=7)
    Builder(data_dir=str(base / "tfds")).download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(base / "source")))
    return base / "tfds"


def pixel_keys(ds) -> list[str]:
    return [hashlib.sha1(image.tobytes()).hexdigest()
            for images, _ in ds for image in images.numpy()]


def test_mixed_stream_draws_each_source_by_its_weight(tiny_tfds, second_tfds):
    from dfd.train import pipeline

    cfg = pipeline.PipelineConfig(image_size=16, batch_size=50, cache="none", augment=(),
                                  seed=3)
    first = str(tiny_tfds / "tfds")
    own = {name: set(pixel_keys(pipeline.build_dataset(d, "train", cfg, training=False)))
           for name, d in (("a", first), ("b", str(second_tfds)))}
    assert not own["a"] & own["b"]
    for weights, expected_a in (([1, 1], 0.5), ([3, 1], 0.75)):
        mixed = pipeline.mixed_training_dataset([("a", first), ("b", str(second_tfds))],
                                                "train", cfg, weights)
        keys = pixel_keys(mixed.take(40))  # 2,000 draws from sets of 48 and 24 images
        share_a = np.mean([k in own["a"] for k in keys])
        assert all(k in own["a"] | own["b"] for k in keys)
        assert abs(share_a - expected_a) < 0.04, (weights, share_a)


def test_class_weights_follow_what_the_mixed_stream_draws():
    from dfd.train import pipeline

    infos = [{"class_counts": {"real": 90, "fake": 10}}, {"class_counts": {"real": 50, "fake": 50}}]
    assert pipeline.mixed_class_shares(infos, [1, 1]) == pytest.approx({"real": 0.7, "fake": 0.3})
    assert pipeline.mixed_class_shares(infos, [0, 1]) == pytest.approx({"real": 0.5, "fake": 0.5})
    assert pipeline.mixed_class_shares([{}], [1]) is None


@pytest.mark.long
@pytest.mark.slow
def test_two_sources_train_report_and_export_per_source(tiny_tfds, second_tfds, tmp_path):
    run = tmp_path / "run"
    run_module("dfd.train", f"--data_dir={tiny_tfds / 'tfds'},{second_tfds}",
               "--source_names=faces_a,faces_b", "--source_weights=2,1", f"--workdir={run}",
               "--model=dfdnet", f"--image_size={TINY_IMAGE_SIZE}", "--batch_size=8",
               "--epochs=1", "--augment=", "--early_stopping_patience=0", "--robustness=fast",
               "--robustness_splits=test")
    config = json.loads((run / "config.json").read_text())
    assert [s["name"] for s in config["sources"]] == ["faces_a", "faces_b"]
    assert [round(s["share"], 3) for s in config["sources"]] == [0.667, 0.333]
    flagfile = (run / "flags.txt").read_text()
    assert "--source_names=faces_a,faces_b" in flagfile and str(second_tfds) in flagfile
    # an epoch is as many images as both training splits hold: (48 + 24) / 8 steps
    history = (run / "history.csv").read_text().splitlines()
    assert len(history) == 2
    report = json.loads((run / "metrics.json").read_text())
    assert report["sources_evaluated"] == ["faces_a", "faces_b"] == report["trained_on"]
    for split, n_a, n_b in (("validation", 16, 12), ("test", 16, 12)):
        a = report["sources"]["faces_a"]["splits"][split]
        b = report["sources"]["faces_b"]["splits"][split]
        assert (a["examples"], b["examples"]) == (n_a, n_b)
        assert report["splits"][split]["examples"] == n_a + n_b
    assert set(report["sources"]["faces_a"]["robustness"]) == {"test"}
    assert report["robustness"]["test"]["examples"] == 28
    assert (run / "roc_by_source.png").stat().st_size > 0
    # the training end's calibration: one fit on both sources' validation, figures per source
    cal = report["calibration"]
    assert cal["fitted_on"] == "validation" and set(cal["sources"]) == {"faces_a", "faces_b"}
    assert cal["splits"]["validation"]["before"]["examples"] == 28
    assert cal["sources"]["faces_b"]["test"]["before"]["examples"] == 12
    assert (run / "calibration.png").stat().st_size > 0
    assert (run / "calibration_by_source.png").stat().st_size > 0

    # The cross-family check: judge the run on a source it did not train on, by name.
    run_module("dfd.evaluate", f"--workdir={run}", f"--data_dir={second_tfds}",
               "--source_names=unseen", "--split=test", "--robustness=none")
    again = json.loads((run / "metrics.json").read_text())
    assert again["sources_evaluated"] == ["unseen"]
    assert again["splits"] == report["splits"]  # the union stays the training sources'
    assert again["other_sources_union"]["splits"]["test"]["examples"] == 12
    assert again["sources"]["unseen"]["trained_on"] is False
    assert again["sources"]["unseen"]["splits"]["test"] == \
        report["sources"]["faces_b"]["splits"]["test"]
    assert "faces_a" in again["sources"]  # earlier per-source figures are kept
    # the left-out source is judged with the training sources' fit, as a device would be
    fit = ("method", "a", "b", "clip", "fitted_on")
    assert {k: again["calibration"][k] for k in fit} == {k: cal[k] for k in fit}
    assert again["calibration"]["sources"]["unseen"]["test"] == cal["sources"]["faces_b"]["test"]
    assert again["calibration"]["splits"] == cal["splits"]
    assert {"faces_a", "faces_b"} <= set(again["calibration"]["sources"])

    run_module("dfd.export", f"--workdir={run}", f"--out={tmp_path / 'export'}",
               "--calibration_examples=16", "--robustness=none", "--face_detector=none")
    card = json.loads((tmp_path / "export" / "model.json").read_text())
    assert [s["name"] for s in card["training"]["sources"]] == ["faces_a", "faces_b"]
    assert set(card["training"]["metrics_by_source"]) >= {"faces_a", "faces_b"}
    int8 = card["artifacts"]["model_int8.tflite"]["p_fake_calibration"]
    assert int8["fitted_on"] == ["validation"] and int8["examples"] == 28  # both sources


def refused(tmp_path, *flags) -> subprocess.CompletedProcess:
    workdir = tmp_path / "never_made"
    out = subprocess.run([sys.executable, "-m", "dfd.train", f"--workdir={workdir}", *flags],
                         env=TF_ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    assert not workdir.exists()
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return out


def test_unreadable_data_dirs_are_refused_in_one_line(tiny_tfds, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = refused(tmp_path, f"--data_dir={tiny_tfds / 'tfds'},{empty}",
                  "--source_names=a,b")
    assert f"--data_dir={empty} holds no built deepfake_real_images dataset" in out.stderr
    raw = tiny_tfds / "source"  # the image folder instead of the built one
    out = refused(tmp_path, f"--data_dir={raw}")
    assert "looks like the raw image folder" in out.stderr and str(raw) in out.stderr
    out = refused(tmp_path, f"--data_dir={tmp_path / 'nowhere'}")
    assert f"--data_dir={tmp_path / 'nowhere'} does not exist" in out.stderr
    out = refused(tmp_path, f"--data_dir={tiny_tfds / 'tfds'},{tiny_tfds / 'tfds'}")
    assert "distinct names" in out.stderr and "--source_names" in out.stderr


def test_sources_must_line_up_with_their_names_and_weights(tiny_tfds, tmp_path):
    from dfd.train import pipeline, sources

    d = str(tiny_tfds / "tfds")
    with pytest.raises(sources.SourceError, match="--source_names has 1 names for 2"):
        sources.resolve([d, d], ["a"])
    with pytest.raises(sources.SourceError, match="--source_weights has 3 weights for 2"):
        sources.resolve([d, d], ["a", "b"], [1, 1, 1])
    with pytest.raises(sources.SourceError, match="finite and > 0"):
        sources.resolve([d], None, [float("nan")])
    assert [s.name for s in sources.resolve(["x/rff160/", "y/dfdc"])] == ["rff160", "dfdc"]
    old = tmp_path / pipeline.DEFAULT_DATASET / "1.1.0"  # before the order-free digest
    old.mkdir(parents=True)
    (old / "dataset_info.json").write_text("{}")
    with pytest.raises(sources.SourceError, match="built by version 1.1.0 of the builder and "
                                                  "this dfd reads 1.2.0"):
        sources.check_built(sources.Source("old", str(tmp_path)))


def test_a_run_from_before_sources_reads_as_one_source():
    from dfd.train import sources

    (only,) = sources.from_config({"data_dir": "/data/celeba/tfds"})
    assert (only.name, only.data_dir, only.weight) == ("tfds", "/data/celeba/tfds", 1.0)
