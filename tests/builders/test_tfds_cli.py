"""`tfds build builders/deepfake_real_images`, as README and the Makefile run it.

The TFDS CLI imports the builder's folder as a top-level module of its own
(`deepfake_real_images.deepfake_real_images_dataset_builder`); the builder's imports of its
siblings go through the installed `dfd.builders` namespace, which must resolve to the same
folder.
"""

import json
import subprocess
import sys

import pytest

from conftest import ROOT, TF_ENV
from dfd.builders import demo_data


@pytest.mark.slow
def test_tfds_build_takes_the_builder_folder(tmp_path):
    demo_data.generate(str(tmp_path / "source"), {"Train": 4, "Validation": 2, "Test": 2},
                       size=32, seed=1)
    out = subprocess.run(
        [sys.executable, "-m", "tensorflow_datasets.scripts.cli.main", "build",
         "builders/deepfake_real_images", f"--manual_dir={tmp_path / 'source'}",
         f"--data_dir={tmp_path / 'tfds'}"],
        cwd=ROOT, env=TF_ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    (info,) = (tmp_path / "tfds" / "deepfake_real_images").glob("*/dataset_info.json")
    splits = {s["name"]: sum(map(int, s["shardLengths"]))
              for s in json.loads(info.read_text())["splits"]}
    assert splits == {"train": 8, "validation": 4, "test": 4}
