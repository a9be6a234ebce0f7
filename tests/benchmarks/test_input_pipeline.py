"""benchmarks.input_pipeline: the GPU boxes' core arithmetic and the per-worker sharding rows
BUILD_NOTES.md's "Input pipeline" section quotes."""

import argparse

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
