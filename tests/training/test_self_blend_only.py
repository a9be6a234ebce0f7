"""Training on the real images alone, every fake a self-blend (--self_blend_only)."""

import json
import subprocess
import sys
import types

import numpy as np
import pytest

from conftest import TF_ENV, TINY_IMAGE_SIZE, run_module

from dfd.train import augment, pipeline, trainer


def config(**overrides):
    base = dict(image_size=32, batch_size=8, cache="memory", seed=3, deterministic=True,
                augment=("self_blend",), reals_only=True,
                augmentation=augment.AugmentConfig(self_blend_probability=0.5))
    base.update(overrides)
    return pipeline.PipelineConfig(**base)


def test_the_training_stream_holds_the_reals_and_their_blends_only(tiny_tfds):
    data = str(tiny_tfds / "tfds")
    batches = [(x.numpy(), y.numpy()) for x, y in
               pipeline.build_dataset(data, "train", config(), training=True)]
    labels = np.concatenate([y for _, y in batches])
    assert len(labels) == 24, "the split's 24 reals, its 24 fakes left out"
    assert 0 < labels.sum() < 24, "some reals became self-blended fakes, not all"
    evaluation = [y.numpy() for _, y in
                  pipeline.build_dataset(data, "validation", config(), training=False)]
    assert np.concatenate(evaluation).sum() > 0, "validation keeps its real fakes"


def test_held_out_blends_pair_each_validation_real_with_its_blend_the_same_every_epoch(
        tiny_tfds):
    data = str(tiny_tfds / "tfds")
    sources = [("tiny", data), ("again", data)]
    blends = pipeline.held_out_blends(sources, "validation", config())
    first = [(x.numpy(), y.numpy()) for x, y in blends]
    second = [(x.numpy(), y.numpy()) for x, y in blends]
    images = np.concatenate([x for x, _ in first])
    labels = np.concatenate([y for _, y in first])
    reals = sum(int((y.numpy() == 0).sum()) for _, y in
                pipeline.build_dataset(data, "validation", config(), training=False))
    assert len(labels) == 2 * 2 * reals, "each source's reals, each once as itself, once blended"
    np.testing.assert_array_equal(labels, np.tile([0.0, 1.0], 2 * reals))
    assert all(not np.array_equal(real, fake) for real, fake in zip(images[0::2], images[1::2]))
    for (x1, y1), (x2, y2) in zip(first, second):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


def test_reals_only_without_self_blend_is_refused():
    with pytest.raises(ValueError, match="reals_only needs self_blend"):
        config(augment=("flip",))


def test_a_reals_only_epoch_is_the_reals_and_the_coin_sets_the_class_weights():
    info = pipeline.reals_only_info({"num_examples": 100, "class_counts": {"real": 70, "fake": 30}})
    assert info == {"num_examples": 70, "class_counts": {"real": 70, "fake": 0}}
    settings = types.SimpleNamespace(class_weight="balanced", self_blend_only=True,
                                     self_blend_probability=0.25)
    weights = trainer.class_weights(settings, [info], [1.0])
    assert weights == pytest.approx({0: 1 / 1.5, 1: 2.0})
    with pytest.raises(ValueError, match="class counts"):
        pipeline.reals_only_info({"num_examples": 10})


@pytest.mark.parametrize("flag, reason", [
    ("--self_blend_only", "--self_blend_only makes every fake with self_blend"),
    ("--select_on=self_blends",
     "--select_on=self_blends judges the checkpoints on self_blend's blends"),
])
def test_a_self_blend_flag_without_self_blend_is_refused(tmp_path, flag, reason):
    result = subprocess.run(
        [sys.executable, "-m", "dfd.train", f"--data_dir={tmp_path}",
         f"--workdir={tmp_path / 'run'}", flag, "--augment=flip"],
        env=TF_ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert reason in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.long
@pytest.mark.slow
def test_a_self_blend_only_run_trains_and_says_so(tiny_tfds, tmp_path):
    run = tmp_path / "run"
    run_module("dfd.train", f"--data_dir={tiny_tfds / 'tfds'}", f"--workdir={run}",
               "--model=dfdnet", f"--image_size={TINY_IMAGE_SIZE}", "--batch_size=8",
               "--epochs=1", "--augment=flip,self_blend", "--self_blend_only",
               "--select_on=self_blends", "--early_stopping_patience=0", "--robustness=none")
    config = json.loads((run / "config.json").read_text())
    assert config["self_blend_only"] is True and config["select_on"] == "self_blends"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["splits"]["test"]["examples"] == 16
    assert metrics["select_on"] == "self_blends" and metrics["selected_on"] == "validation"
