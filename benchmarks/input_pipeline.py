"""Benchmark: dfd's input pipeline against the seed's loader, two epochs, same files.

    python -m benchmarks.input_pipeline --source=../shared/data/celeba_stylegan/Dataset

Builds the TFDS dataset from --source (timing `tfds build`'s work: images/s), then times
two epochs of the train split through `dfd.train.pipeline.build_dataset` (cached, prefetched) and
through `keras.utils.image_dataset_from_directory` at the seed's settings (128x128, batch
64). Prints a Markdown table for BUILD_NOTES.md. Run it alone: two cores make any
concurrent work show up in every figure.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import tensorflow as tf
import tensorflow_datasets as tfds

from dfd.train import pipeline


def build(source: str, data_dir: str) -> tuple[float, int]:
    from dfd.builders.deepfake_real_images import Builder
    builder = Builder(data_dir=data_dir)
    start = time.perf_counter()
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=source))
    seconds = time.perf_counter() - start
    return seconds, sum(s.num_examples for s in builder.info.splits.values())


def time_epochs(ds: tf.data.Dataset, epochs: int) -> list[tuple[float, int]]:
    results = []
    for _ in range(epochs):
        start, count = time.perf_counter(), 0
        for images, _ in ds:
            count += int(images.shape[0])
        results.append((time.perf_counter() - start, count))
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", help="Kaggle-layout Dataset/ folder (builds it first)")
    parser.add_argument("--data_dir", help="an already built TFDS data dir (skips the build)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--image_size", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--skip_seed_loader", action="store_true")
    args = parser.parse_args(argv)
    if not args.source and not args.data_dir:
        parser.error("give --source or --data_dir")
    rows = []
    data_dir = args.data_dir
    if not data_dir:
        data_dir = tempfile.mkdtemp(prefix="dfd-bench-")
        seconds, count = build(args.source, data_dir)
        rows.append(("`tfds build` (all splits)", f"{count} images in {seconds:.1f} s",
                     f"{count / seconds:.0f}"))
    # Without augmentation it does the seed loader's job (decode, resize, batch); with
    # dfd's training augmentation it does more, and both figures are reported.
    for label, augment in (("no augmentation", ()),
                           ("augment " + ",".join(pipeline.AUGMENTATIONS), pipeline.AUGMENTATIONS)):
        cfg = pipeline.PipelineConfig(image_size=args.image_size, batch_size=args.batch_size,
                                  augment=augment)
        ds = pipeline.build_dataset(data_dir, "train", cfg, training=True)
        for epoch, (seconds, count) in enumerate(time_epochs(ds, args.epochs), 1):
            rows.append((f"dfd pipeline, {label}, epoch {epoch}",
                         f"{count} images in {seconds:.2f} s", f"{count / seconds:.0f}"))
    if args.source and not args.skip_seed_loader:
        import keras
        seed_ds = keras.utils.image_dataset_from_directory(
            os.path.join(args.source, "Train"), image_size=(128, 128), batch_size=64,
            label_mode="binary", verbose=False)
        for epoch, (seconds, count) in enumerate(time_epochs(seed_ds, args.epochs), 1):
            rows.append((f"seed loader (image_dataset_from_directory), epoch {epoch}",
                         f"{count} images in {seconds:.2f} s", f"{count / seconds:.0f}"))
    print(f"\n| what | work | images/s |\n| --- | --- | --- |")
    for row in rows:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")


if __name__ == "__main__":
    main()
