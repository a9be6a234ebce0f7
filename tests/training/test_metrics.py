"""dfd.common.metrics against references computed another way: pairwise counting for the AUC, an
exhaustive threshold sweep for the EER, on random scores full of ties."""

import numpy as np
import pytest

from dfd.common import metrics


def scored(seed, examples=60, levels=7):
    """Labels and scores on a coarse grid (many ties, within and across classes)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, examples)
    labels[:2] = [0, 1]
    scores = (rng.integers(0, levels, examples) + labels * rng.integers(0, 3, examples)) / 10
    return labels, scores


def pairwise_auc(labels, scores):
    """Mann-Whitney: the share of (fake, real) pairs ranked right, ties counting half."""
    fakes, reals = scores[labels == 1], scores[labels == 0]
    wins = sum(float(f > r) + 0.5 * float(f == r) for f in fakes for r in reals)
    return wins / (len(fakes) * len(reals))


def swept_eer(labels, scores):
    """Every threshold from the highest (nothing called fake) down; 'fake' means score >=
    threshold. The first threshold where |FNR - FPR| is least gives (mean of the two, t)."""
    best = None
    for threshold in [np.inf, *sorted(set(scores.tolist()), reverse=True)]:
        fpr = np.mean(scores[labels == 0] >= threshold)
        fnr = np.mean(scores[labels == 1] < threshold)
        if best is None or abs(fnr - fpr) < best[0]:
            best = (abs(fnr - fpr), (fpr + fnr) / 2, threshold)
    return best[1], best[2]


@pytest.mark.parametrize("seed", range(12))
def test_auc_equals_the_pairwise_count(seed):
    labels, scores = scored(seed)
    assert metrics.roc_auc(labels, scores) == pytest.approx(pairwise_auc(labels, scores),
                                                            abs=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_eer_equals_the_exhaustive_threshold_sweep(seed):
    labels, scores = scored(seed)
    eer, threshold = metrics.equal_error_rate(labels, scores)
    expected_eer, expected_threshold = swept_eer(labels, scores)
    assert eer == pytest.approx(expected_eer, abs=1e-12)
    assert threshold == (1.0 if np.isinf(expected_threshold) else expected_threshold)


def test_auc_of_a_perfect_an_inverted_and_a_constant_score():
    labels = np.array([0, 0, 1, 1])
    assert metrics.roc_auc(labels, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert metrics.roc_auc(labels, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert metrics.roc_auc(labels, np.full(4, 0.5)) == 0.5
    assert np.isnan(metrics.roc_auc(np.ones(4), np.arange(4.0)))
