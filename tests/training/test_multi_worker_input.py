"""Two worker processes under TF_CONFIG each read their own share of the training split.

Each process starts MultiWorkerMirroredStrategy as dfd.train does, takes its input context
from it (dfd.train.hardware.input_context) and runs dfd.train.pipeline on the training
split for two epochs through a file cache. With at least one file per worker, the workers'
files are disjoint; in every case their examples are disjoint, together they are the split
once per epoch, and the second epoch (read from each worker's own cache file) is the same
share again, so no worker caches the whole split.
"""

import json
import subprocess
import sys

import pytest

from conftest import TF_ENV, free_port

WORKER = r"""
import dataclasses, hashlib, json, os, sys
import tensorflow as tf
from dfd.train import hardware, pipeline

data_dir, cache = sys.argv[1], sys.argv[2]
strategy = tf.distribute.MultiWorkerMirroredStrategy()
context = hardware.input_context(strategy)
found = pipeline.builder(data_dir)
digest = lambda data: hashlib.sha256(data).hexdigest()

# Which of the split's files this worker's encoded images come from.
records = {os.path.basename(os.fspath(path)): [r.numpy() for r in
                                               tf.data.TFRecordDataset(os.fspath(path))]
           for path in found.info.splits["train"].filepaths}
files = set()
raw = pipeline.read_split(found, "train", training=True, seed=0, input_context=context)
for example in raw.as_numpy_iterator():
    files |= {name for name, rs in records.items() if any(example["image"] in r for r in rs)}

cfg = pipeline.PipelineConfig(image_size=32, batch_size=4, cache=cache, augment=(),
                              shuffle_buffer=64)
ds = pipeline.build_dataset(data_dir, "train", cfg, training=True, input_context=context)
epochs = [[digest(image.tobytes()) for images, _ in ds.as_numpy_iterator() for image in images]
          for _ in range(2)]
whole = pipeline.build_dataset(data_dir, "train", dataclasses.replace(cfg, cache="none"),
                               training=False)
split = [digest(image.tobytes()) for images, _ in whole.as_numpy_iterator() for image in images]
print(json.dumps({"files": sorted(files), "all_files": sorted(records), "epochs": epochs,
                  "split": split, "id": context.input_pipeline_id,
                  "workers": context.num_input_pipelines}))
"""


def run_two_workers(data_dir, cache_prefix):
    workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        procs.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, str(data_dir), str(cache_prefix)],
            env={**TF_ENV, "TF_CONFIG": json.dumps(tf_config)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        results.append((json.loads(out.strip().splitlines()[-1]), err))
    return results


def assert_shares_cover_the_split_once(results):
    (first, _), (second, _) = results
    assert {first["id"], second["id"]} == {0, 1} and first["workers"] == 2
    assert sorted(first["split"]) == sorted(second["split"]) and len(first["split"]) == 48
    for epoch in range(2):
        a, b = first["epochs"][epoch], second["epochs"][epoch]
        assert a and b and not set(a) & set(b)
        assert sorted(a + b) == sorted(first["split"])  # every example once, none twice
    for worker, _ in results:  # epoch 2 comes from the worker's own cache: the same share
        assert sorted(worker["epochs"][1]) == sorted(worker["epochs"][0])


@pytest.mark.slow
def test_workers_read_disjoint_files_that_together_are_the_split(four_file_tfds, tmp_path):
    results = run_two_workers(four_file_tfds, tmp_path / "cache" / "run")
    assert_shares_cover_the_split_once(results)
    (first, err_first), (second, err_second) = results
    assert len(first["files"]) == len(second["files"]) == 2
    assert not set(first["files"]) & set(second["files"])
    assert sorted(first["files"] + second["files"]) == first["all_files"]
    assert "shards" not in err_first + err_second  # no fallback warning
    caches = {p.name.split(".")[0] for p in (tmp_path / "cache").iterdir()}
    assert len(caches) == 2, caches  # one cache file per worker, each its share


@pytest.mark.slow
def test_one_file_for_two_workers_shares_examples_and_says_how_to_fix_it(tiny_tfds, tmp_path):
    results = run_two_workers(tiny_tfds / "tfds", tmp_path / "cache" / "run")
    assert_shares_cover_the_split_once(results)
    for worker, err in results:
        assert worker["files"] == worker["all_files"]  # each reads the one file
        assert "--num_shards=2" in err and "has 1 file(s) for 2 workers" in err
