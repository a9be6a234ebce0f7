"""Evaluation's graph-mode prediction gives the figures the eager per-batch loop gave.

The references below are the eager loops dfd.evaluate.report used before (one Keras call
per batch from Python); the model is dfdnet with its random initial weights, which is
enough: every figure depends only on what the model answers for each image, in order.
"""

import numpy as np
import pytest

from conftest import TINY_IMAGE_SIZE
from dfd.common import metrics, preprocess
from dfd.evaluate import report, robustness
from dfd.train import models, pipeline

CONFIG_BATCH = 5  # does not divide the 16-image splits: a partial last batch is scored too


LOGIT_SPREAD = 1e5
"""Random initial weights answer 0.5 + ~1e-6 for every image, so the scores differ only by
float32 steps, near-ties are everywhere, and AUC followed rounding: a graph-mode pass and an
eager one that agree to 1e-7 gave 0.305 and 0.313 once installed packages moved. The logit
layer's kernel scaled by this spreads the answers over ~0.54-0.61 (smallest gap ~2e-4), so
the order the figures depend on is the model's, not the rounding's."""


@pytest.fixture(scope="module")
def model():
    import keras
    keras.utils.set_random_seed(3)
    built = models.build("dfdnet", TINY_IMAGE_SIZE)
    logit = built.get_layer("logit")
    kernel, bias = logit.get_weights()
    logit.set_weights([kernel * LOGIT_SPREAD, bias])
    return built


@pytest.fixture(scope="module")
def config(tiny_tfds):
    return {"data_dir": str(tiny_tfds / "tfds"), "dataset": pipeline.DEFAULT_DATASET,
            "image_size": TINY_IMAGE_SIZE, "batch_size": CONFIG_BATCH}


def eager_predict(model, ds):
    labels, scores = [], []
    for images, batch_labels in ds:
        scores.append(np.asarray(model(images, training=False), np.float64).reshape(-1))
        labels.append(np.asarray(batch_labels).reshape(-1))
    return np.concatenate(labels), np.concatenate(scores)


def test_graph_prediction_matches_the_eager_loop(model, config):
    cfg = pipeline.PipelineConfig(image_size=TINY_IMAGE_SIZE, batch_size=CONFIG_BATCH,
                                  cache="none", augment=())
    for split in ("validation", "test"):
        ds = pipeline.build_dataset(config["data_dir"], split, cfg, training=False)
        labels, scores = report.predict(model, ds)
        old_labels, old_scores = eager_predict(model, ds)
        assert len(labels) == 16 and set(labels) == {0.0, 1.0}
        np.testing.assert_array_equal(labels, old_labels)
        np.testing.assert_allclose(scores, old_scores, atol=1e-6)
        assert np.ptp(scores) > 0  # the model tells images apart: the order is tested
        new, old = metrics.summarize(labels, scores), metrics.summarize(old_labels, old_scores)
        assert new["confusion_matrix"] == old["confusion_matrix"]
        for name in ("auc", "accuracy", "eer", "loss"):
            assert new[name] == pytest.approx(old[name], abs=1e-6), name


def test_graph_robustness_report_matches_the_eager_scorer(model, config):
    suite = "fast"
    from dfd.train import sources

    source = sources.Source("tiny", config["data_dir"])
    per_source, union = report.robustness_reports(model, config, [source], ["test"], suite)
    new = per_source["tiny"]["test"]
    assert union["test"] == new  # one source: the union is that source
    old = robustness.score_suite(
        report.source_images(config["data_dir"], config["dataset"], "test"),
        robustness.SUITES[suite],
        lambda rgb: preprocess.preprocess(rgb, TINY_IMAGE_SIZE),
        lambda images: np.asarray(model(images.astype(np.float32), training=False)),
        batch_size=CONFIG_BATCH)
    assert new["examples"] == old["examples"] == 16
    assert list(new["degradations"]) == list(old["degradations"])
    for name, row in old["degradations"].items():
        assert new["degradations"][name]["auc"] == pytest.approx(row["auc"], abs=1e-6), name
        assert new["degradations"][name]["accuracy"] == row["accuracy"], name
    assert new["worst"] == old["worst"]


def test_many_splits_and_sources_trace_the_pass_once_and_print_no_retracing_warning(
        model, config, caplog):
    """A run on three sources evaluates nine split passes; each used to trace a fresh
    tf.function, and from the fifth on TensorFlow printed a retracing warning per pass
    on the user's terminal."""
    import logging

    cfg = pipeline.PipelineConfig(image_size=TINY_IMAGE_SIZE, batch_size=CONFIG_BATCH,
                                  cache="none", augment=())
    first = None
    with caplog.at_level(logging.WARNING):
        for _ in range(4):
            for split in ("train", "validation", "test"):
                ds = pipeline.build_dataset(config["data_dir"], split, cfg, training=False)
                labels, scores = report.predict(model, ds)
                if split == "test":
                    first = scores if first is None else first
                    np.testing.assert_array_equal(scores, first)
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
