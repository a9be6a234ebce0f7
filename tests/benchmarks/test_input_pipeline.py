"""benchmarks.input_pipeline: the GPU boxes' core arithmetic, the per-worker sharding rows
BUILD_NOTES.md's "Input pipeline" section quotes, the augmentation profile's variants, and
the service servers' logs."""

import argparse
import dataclasses
import json
import sys

import numpy as np
import pytest

from conftest import TINY_IMAGE_SIZE
from benchmarks import input_pipeline


def test_cores_for_a_gpu_box_are_its_image_rate_over_the_per_core_rate():
    one = input_pipeline.estimate_cores(600.0, 1, gpu_rate=14_000)
    assert (one["images_per_s"], one["cores"]) == (14_000, 24)  # 23.3 rounded up
    eight = input_pipeline.estimate_cores(150.0, 8, gpu_rate=14_000)
    assert (eight["images_per_s"], eight["cores"]) == (112_000, 747)


def test_sharding_rows_give_each_worker_its_own_files_and_together_the_split(four_file_tfds):
    args = argparse.Namespace(sizes=[TINY_IMAGE_SIZE])
    rows = input_pipeline.sharding(args, str(four_file_tfds))
    whole, *workers = rows
    assert whole["workers"] == 1 and whole["examples"] == whole["split_examples"] == 48
    assert len(whole["files"]) == whole["split_files"] == 4
    assert [r["worker"] for r in workers] == [0, 1]
    assert [len(r["files"]) for r in workers] == [2, 2]
    assert not set(workers[0]["files"]) & set(workers[1]["files"])
    assert sorted(workers[0]["files"] + workers[1]["files"]) == whole["files"]
    assert sum(r["examples"] for r in workers) == 48
    assert all(r["distinct"] == r["examples"] for r in rows)


PROFILE_KEYS = ["none", "batch", "blur", "resize", "jpeg", "self_blend", "default"]


def test_profile_prints_a_positive_rate_for_every_variant(tiny_tfds, capsys):
    input_pipeline.main([f"--data_dir={tiny_tfds / 'tfds'}", "--measure=profile",
                         f"--sizes={TINY_IMAGE_SIZE}", "--images=8", "--repeats=1"])
    out = capsys.readouterr().out
    result = json.loads(next(line for line in out.splitlines()
                             if line.startswith('{"measure": "profile"')))
    assert list(result["labels"]) == PROFILE_KEYS
    assert result["labels"]["default"].startswith(
        "default recipe (flip,crop,blur,resize,jpeg, p=0.5, sigma<=3, scale>=0.25, q>=30)")
    figures = result["sizes"][str(TINY_IMAGE_SIZE)]
    assert figures["images"] == 8 and result["batch_size"] == 32  # cpu_small's batch
    assert all(figures["rates"][key] > 0 for key in PROFILE_KEYS)
    for label in result["labels"].values():
        assert f"\n| {label} | " in out


def test_each_profile_variant_applies_its_augmentation_and_only_the_none_row_keeps_pixels(
        tiny_tfds):
    """The rows time what they name: no augmentation hands back the held images, each op
    alone at p=1 changes them (JPEG every one, self_blend every real one and no fake), so a
    variant that silently skipped its op, or kept the recipe's p=0.5, fails here."""
    images, labels = input_pipeline.cached_images(str(tiny_tfds / "tfds"), TINY_IMAGE_SIZE, 16)
    variants = {key: config for key, _, config in input_pipeline.profile_variants(
        input_pipeline.recipe_config(input_pipeline.DEFAULT_RECIPE))}
    assert list(variants) == PROFILE_KEYS

    def first_batch(key):
        config = dataclasses.replace(variants[key], image_size=TINY_IMAGE_SIZE)
        batch, batch_labels = next(iter(input_pipeline.variant_dataset(images, labels, config)))
        return batch.numpy(), batch_labels.numpy()

    plain, plain_labels = first_batch("none")
    np.testing.assert_array_equal(plain, images)
    np.testing.assert_array_equal(plain_labels, labels)
    jpeg, _ = first_batch("jpeg")
    assert all(not np.array_equal(a, b) for a, b in zip(jpeg, plain))
    for key in ("batch", "blur", "resize", "default"):
        assert not np.array_equal(first_batch(key)[0], plain), key
    blended, blended_labels = first_batch("self_blend")
    real = labels < 0.5
    assert 0 < real.sum() < len(labels)
    assert (blended_labels == 1).all()
    assert all(not np.array_equal(a, b) for a, b in zip(blended[real], plain[real]))
    np.testing.assert_array_equal(blended[~real], plain[~real])


def test_a_service_server_that_logs_more_than_a_pipe_holds_neither_blocks_nor_loses_it():
    # 200 KB on stderr: into an unread pipe (64 KiB) the child would never reach its exit.
    chatty = ("import sys; sys.stderr.write('w' * 200_000 + 'last words'); "
              "sys.stderr.flush()")
    server = input_pipeline.start_server([sys.executable, "-c", chatty])
    try:
        assert server.wait(timeout=60) == 0
        assert input_pipeline.server_log(server).endswith("last words")
    finally:
        server.kill()
        server.log.close()


def test_service_rates_from_epochs_of_a_few_seconds_carry_a_warning(capsys):
    rows = [{"workers": 1, "size": 128, "images": 600, "epochs": [296.0, 298.0], "rate": 297.0},
            {"workers": 2, "size": 128, "images": 600, "epochs": [295.0, 297.0], "rate": 296.0}]
    assert input_pipeline.shortest_epoch_seconds(rows) == pytest.approx(600 / 298.0)
    input_pipeline.print_service(rows)
    assert "warning: the shortest epoch took 2.0 s" in capsys.readouterr().out


def test_service_rates_from_long_epochs_print_no_warning(capsys):
    rows = [{"workers": 1, "size": 256, "images": 4000, "epochs": [190.0, 200.0], "rate": 195.0},
            {"workers": 2, "size": 256, "images": 4000, "epochs": [332.0, 195.0], "rate": 246.0}]
    input_pipeline.print_service(rows)
    out = capsys.readouterr().out
    assert "256 px: 2 workers / 1 = 1.26x" in out and "warning" not in out
