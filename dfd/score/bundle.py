"""The exported bundle a worker scores with, wherever the user keeps it.

The interpreter opens a local file and the detector reads `model.json` and the golden
inputs beside it, so a bundle on gs://, s3:// or hdfs:// is copied once per worker process
into a private temporary folder (the bundle is ours, not untrusted input). Local paths are
used where they are.
"""

from __future__ import annotations

import os
import tempfile

from dfd.common import card as card_schema
from dfd.common import spec

GOLDEN_INPUTS = "golden_inputs.npy"


def is_remote(path: str) -> bool:
    """True for a path only Beam's file systems read (gs://, s3://, hdfs://, ...)."""
    return "://" in path and not path.startswith("file://")


def local_model(model_path: str) -> str:
    """A local path to the model with its model.json, golden inputs and face detector
    beside it."""
    if not is_remote(model_path):
        return model_path
    from apache_beam.io.filesystems import FileSystems

    folder = tempfile.mkdtemp(prefix="dfd-score-bundle-")
    remote_dir = model_path.rsplit("/", 1)[0]

    def copy(name: str, required: bool) -> str | None:
        source = f"{remote_dir}/{name}"
        if not required and not FileSystems.exists(source):
            return None
        target = os.path.join(folder, name)
        with FileSystems.open(source, compression_type="uncompressed") as f, \
                open(target, "wb") as out:
            out.write(f.read())
        return target

    local = copy(model_path.rsplit("/", 1)[1], required=True)
    card = copy(spec.MODEL_CARD, required=False)
    if card:
        described = card_schema.load(card)  # CardError, before any other file is fetched
        inputs = described.get(card_schema.GOLDEN, {}).get("inputs", {}).get("file")
        copy(os.path.basename(inputs or GOLDEN_INPUTS), required=False)
        face_detector = (described.get(card_schema.FACE_DETECTOR) or {}).get("file")
        if face_detector:  # faces need it beside the model, as in the bundle
            copy(os.path.basename(face_detector), required=False)
    return local

