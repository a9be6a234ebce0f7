"""How a detector holds up under what happens to an image between a generator and a detector.

Each degradation changes the decoded *source* image (before `dfd.common.spec`'s crop and resize),
the way a re-save, a resize for the web, a phone's upscaled upload or a screenshot crop
would, and is deterministic: random parameters come from a generator seeded by the suite
seed and the image's position, so two runs (and the Keras and the device versions of a
model) see the very same pixels.

numpy and Pillow only: the training room (`dfd.evaluate`) and the device room (`dfd.lite`,
which judges an exported .tflite as the device runs it) share it.

Degradations that report accuracy at a threshold use the model card's threshold (0.5 by
default); AUC is threshold-free and is what the summary's mean and worst are taken over.
"""

from __future__ import annotations

import io
from typing import Callable, Iterable

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from dfd.common import metrics

SEED = 20260


def _jpeg(quality: int):
    def resave(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return resave


def _scale(factor: float, method=Image.Resampling.BILINEAR):
    def resize(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        width, height = image.size
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        return image.resize(size, method)
    return resize


def _blur(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius=1.0))  # Pillow's radius is sigma


def _off_centre_crop(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """80% of each side, placed at a random offset (never the centre-only case)."""
    width, height = image.size
    crop_w, crop_h = round(width * 0.8), round(height * 0.8)
    left = int(rng.integers(0, width - crop_w + 1))
    top = int(rng.integers(0, height - crop_h + 1))
    return image.crop((left, top, left + crop_w, top + crop_h))


def _brightness_contrast(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    image = ImageEnhance.Brightness(image).enhance(float(rng.uniform(0.75, 1.25)))
    return ImageEnhance.Contrast(image).enhance(float(rng.uniform(0.75, 1.25)))


def _chain(*steps):
    def chained(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        for step in steps:
            image = step(image, rng)
        return image
    return chained


DEGRADATIONS: dict[str, Callable[[Image.Image, np.random.Generator], Image.Image]] = {
    "none": lambda image, rng: image,
    "jpeg90": _jpeg(90),
    "jpeg70": _jpeg(70),
    "jpeg50": _jpeg(50),
    "jpeg30": _jpeg(30),
    "downscale_1/2": _scale(0.5),
    "downscale_1/4": _scale(0.25),
    "upscale_4x_lanczos": _scale(4.0, Image.Resampling.LANCZOS),
    "gaussian_blur_1": _blur,
    "crop_80_off_centre": _off_centre_crop,
    "brightness_contrast": _brightness_contrast,
    "social_media_1/2_jpeg70": _chain(_scale(0.5), _jpeg(70)),
}
"""Name -> function of (RGB source image, generator) -> RGB image. Order is the report's."""

SUITES = {
    "none": (),
    "fast": ("none", "jpeg70", "downscale_1/2", "gaussian_blur_1", "social_media_1/2_jpeg70"),
    "full": tuple(DEGRADATIONS),
}
"""--robustness: how much of the suite to run (fast: one of each kind, for selection runs)."""


def degrade(image: Image.Image, name: str, index: int, seed: int = SEED) -> np.ndarray:
    """The `name` degradation of one RGB source image, as uint8 (H, W, 3).

    The generator depends on (seed, degradation, image index) only, so results never depend
    on batch size, order of evaluation or which model is judged."""
    key = list(DEGRADATIONS).index(name)
    rng = np.random.default_rng([seed, key, index])
    return np.asarray(DEGRADATIONS[name](image.convert("RGB"), rng), dtype=np.uint8)


def score_suite(sources: Iterable[tuple[Image.Image, int]], names: Iterable[str],
                preprocess: Callable[[np.ndarray], np.ndarray],
                score_batch: Callable[[np.ndarray], np.ndarray], threshold: float = 0.5,
                batch_size: int = 64, seed: int = SEED) -> dict:
    """Scores every source image under every named degradation.

    `sources` yields (decoded RGB source, label), in a fixed order; `preprocess` is the
    `dfd.common.spec` contract (uint8 source -> uint8 model input); `score_batch` maps a uint8
    (N, S, S, 3) batch to P(fake). Sources are read once: each image is degraded every way
    while it is in memory, so a split is never held whole.
    """
    return score_suites(sources, names, preprocess, {"model": score_batch},
                        {"model": threshold}, batch_size, seed)["model"]


def score_suites(sources: Iterable[tuple[Image.Image, int]], names: Iterable[str],
                 preprocess: Callable[[np.ndarray], np.ndarray],
                 scorers: dict[str, Callable[[np.ndarray], np.ndarray]],
                 thresholds: dict[str, float], batch_size: int = 64,
                 seed: int = SEED) -> dict[str, dict]:
    """`score_suite` for several scorers of one input contract (e.g. an export's float32
    and int8 files) in one pass: decoding and degrading a split costs more than scoring
    it, so each degraded image is made once and judged by every scorer."""
    scores, labels = raw_scores(sources, names, preprocess, scorers, batch_size, seed)
    return {key: summarize(per, labels, thresholds[key], seed) for key, per in scores.items()}


def raw_scores(sources: Iterable[tuple[Image.Image, int]], names: Iterable[str],
               preprocess: Callable[[np.ndarray], np.ndarray],
               scorers: dict[str, Callable[[np.ndarray], np.ndarray]], batch_size: int = 64,
               seed: int = SEED) -> tuple[dict[str, dict[str, np.ndarray]], np.ndarray]:
    """({scorer: {degradation: P(fake) per image}}, labels): what `score_suites` summarises,
    kept so several sources' scores can also be summarised as one union."""
    names = list(names)
    unknown = [n for n in names if n not in DEGRADATIONS]
    if unknown:
        raise ValueError(f"unknown degradation(s) {unknown}; choose from {list(DEGRADATIONS)}")
    scores = {key: {name: [] for name in names} for key in scorers}
    pending = {name: [] for name in names}
    labels = []

    def flush(name):
        if pending[name]:
            batch = np.stack(pending[name])
            for key, score_batch in scorers.items():
                scores[key][name].append(
                    np.asarray(score_batch(batch), np.float64).reshape(-1))
            pending[name] = []

    for index, (image, label) in enumerate(sources):
        labels.append(int(label))
        for name in names:
            pending[name].append(preprocess(degrade(image, name, index, seed)))
            if len(pending[name]) == batch_size:
                flush(name)
    for name in names:
        flush(name)
    return ({key: {name: np.concatenate(per[name]) if per[name] else np.zeros(0)
                   for name in names} for key, per in scores.items()},
            np.asarray(labels, dtype=np.int64))


def summarize(scores: dict[str, np.ndarray], labels: np.ndarray, threshold: float,
              seed: int = SEED) -> dict:
    """The `robustness` entry of metrics.json: AUC and accuracy per degradation, then the
    mean and the worst AUC over the degradations."""
    per = {}
    for name, p in scores.items():
        per[name] = {"auc": metrics.roc_auc(labels, p),
                     "accuracy": float(np.mean((p >= threshold) == (labels == 1)))}
    aucs = {name: row["auc"] for name, row in per.items()}
    worst = min(aucs, key=aucs.get) if aucs else None
    return {"examples": int(len(labels)), "threshold": float(threshold), "seed": seed,
            "degradations": per,
            "mean_auc": float(np.mean(list(aucs.values()))) if aucs else None,
            "worst_auc": aucs[worst] if worst else None, "worst": worst}


def summary_lines(split: str, report: dict) -> list[str]:
    lines = [f"robustness on {split} ({report['examples']} images): mean AUC "
             f"{report['mean_auc']:.4f}, worst {report['worst_auc']:.4f} ({report['worst']})"]
    for name, row in report["degradations"].items():
        lines.append(f"  {name:26s} AUC {row['auc']:.4f}  accuracy {row['accuracy']:.4f}")
    return lines


def write_chart(path: str, reports: dict[str, dict]) -> str:
    """robustness.png: AUC per degradation, one bar group per split (or per model)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(next(iter(reports.values()))["degradations"])
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(names) + 2), 4))
    width = 0.8 / len(reports)
    for i, (label, report) in enumerate(reports.items()):
        values = [report["degradations"][n]["auc"] for n in names]
        ax.bar(np.arange(len(names)) + i * width, values, width,
               label=f"{label} (mean {report['mean_auc']:.3f}, worst {report['worst_auc']:.3f})")
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=35, ha="right")
    ax.axhline(0.5, color="k", lw=0.8, ls=":")
    ax.set(ylabel="ROC AUC", ylim=(0, 1.02), title="Robustness: AUC under degradations")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
