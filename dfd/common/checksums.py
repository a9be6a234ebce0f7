"""File checksums, one definition for the builder's source digests, model.json and the
pretrained-weights cache key."""

from __future__ import annotations

import hashlib
import os
from typing import BinaryIO


def sha256_file(file: str | os.PathLike | BinaryIO) -> str:
    """Hex sha256 of a file, given by its path or as a binary file object open for reading
    (a bucket's, through epath or Beam's file systems); hashlib reads it in blocks: model
    and data files can be large. The one sha256-of-a-file in dfd: the builder's source
    digests, model.json's checksums, the face detector's check and dfd-score's model_sha256
    all use it."""
    if hasattr(file, "read"):
        return hashlib.file_digest(file, "sha256").hexdigest()
    with open(file, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def tree_lines(folder: str) -> list[str]:
    """`sha256sum`'s line ("<hex>  <path>") for every file under `folder`, paths relative
    with "/" and sorted bytewise."""
    paths = sorted(os.path.relpath(os.path.join(parent, name), folder).replace(os.sep, "/")
                   for parent, _, names in os.walk(folder) for name in names)
    return [f"{sha256_file(os.path.join(folder, path))}  {path}" for path in paths]


def sha256_tree(folder: str) -> str:
    """Hex sha256 of a folder's every file and path: the sha256 of `tree_lines`, one per
    line, which is what this shell line prints for it:

        cd FOLDER && find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs sha256sum | sha256sum

    A change to any file, a file added, removed or renamed, changes it."""
    text = "".join(line + "\n" for line in tree_lines(folder))
    return hashlib.sha256(text.encode()).hexdigest()
