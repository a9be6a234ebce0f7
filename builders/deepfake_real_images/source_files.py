"""Finding the Kaggle folders and vetting each file, separate from TFDS plumbing.

The Kaggle download arrives in several shapes (the zip, the extracted `Dataset/` folder, or
a folder holding either), and real collections always contain a few files that are not
what their extension says. This module turns both facts into plain data the builder can
count and report, so no single bad file can stop a 190k-image build. The listing rules
run on a `source_tree` (a folder or a zip read in place) so both shapes give the same
examples, the same unused files and the same digests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
from typing import Iterator

from etils import epath

from dfd.builders.deepfake_real_images.source_tree import (
    FolderTree, RemoteFolderTree, SourceError, ZipTree, is_remote)
from dfd.imaging import gate

Tree = FolderTree | RemoteFolderTree | ZipTree

SPLIT_FOLDERS = {"train": "Train", "validation": "Validation", "test": "Test"}
CLASS_FOLDERS = {"real": "Real", "fake": "Fake"}


def _child(tree: Tree, folder: str, name: str) -> str | None:
    """A child folder by case-insensitive name (Kaggle mirrors differ in case)."""
    for entry in tree.listdir(folder):
        path = _join(folder, entry)
        if entry.lower() == name.lower() and tree.isdir(path):
            return path
    return None


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def is_dataset_root(tree: Tree, folder: str) -> bool:
    """True for a folder with at least one split folder holding Real/ or Fake/."""
    for split in SPLIT_FOLDERS.values():
        split_dir = _child(tree, folder, split)
        if split_dir and any(_child(tree, split_dir, c) for c in CLASS_FOLDERS.values()):
            return True
    return False


def find_root_in(tree: Tree, max_depth: int = 3) -> str | None:
    """The shallowest folder of `tree` laid out as Kaggle's `Dataset/` ("" is the top)."""
    level = [""]
    for _ in range(max_depth + 1):
        for candidate in level:
            if is_dataset_root(tree, candidate):
                return candidate
        level = [_join(c, e) for c in level for e in tree.listdir(c)
                 if tree.isdir(_join(c, e))]
    return None


def find_dataset_root(folder: str, max_depth: int = 3) -> str | None:
    """The shallowest folder under `folder` laid out as Kaggle's `Dataset/` (or None)."""
    found = find_root_in(FolderTree(folder), max_depth)
    if found is None:
        return None
    return os.path.join(folder, *found.split("/")) if found else folder


def find_zip(folder: str) -> str | None:
    """The Kaggle archive in `folder`, if the user put the zip there instead of folders."""
    if is_remote(folder):
        zips = sorted(p.name for p in epath.Path(folder).iterdir()
                      if p.name.lower().endswith(".zip"))
        return f"{folder.rstrip('/')}/{zips[0]}" if zips else None
    zips = sorted(e for e in os.listdir(folder) if e.lower().endswith(".zip"))
    return os.path.join(folder, zips[0]) if zips else None


def unused_reason(tree: Tree, path: str, name: str) -> str:
    """Why a file in a class folder is not an example candidate ("" if it is one)."""
    if name.startswith("."):
        return "hidden file (name starts with '.')"
    if name.endswith("~"):
        return "backup file (name ends with '~')"
    if not tree.isfile(path):
        return "not a regular file"
    return ""


def _files_below(tree: Tree, folder: str) -> list[str]:
    found = []
    for entry in tree.listdir(folder):
        path = _join(folder, entry)
        found += _files_below(tree, path) if tree.isdir(path) else [path]
    return found


def class_folders(tree: Tree, root: str, split: str) -> list[tuple[str, str]]:
    """(class name, folder) of each class folder a split has, in the fixed class order."""
    split_dir = _child(tree, root, SPLIT_FOLDERS[split])
    if not split_dir:
        return []
    found = [(c, _child(tree, split_dir, folder)) for c, folder in CLASS_FOLDERS.items()]
    return [(c, class_dir) for c, class_dir in found if class_dir]


def list_class(tree: Tree, class_name: str, class_dir: str) -> list[tuple[str, str, str, str]]:
    """(class name, file name, path, reason not used or "") for every entry of one class
    folder, in a fixed order. A split's listing is its class folders' listings in class
    order, so a Beam worker listing one class folder reproduces its part of that order."""
    entries = []
    for name in tree.listdir(class_dir):
        path = _join(class_dir, name)
        if tree.isdir(path):
            entries += [(class_name, below[len(class_dir) + 1:], below,
                         "inside a subfolder of the class folder")
                        for below in _files_below(tree, path)]
            continue
        reason = unused_reason(tree, path, name)
        duplicates = getattr(tree, "duplicates", {}).get(path)
        entries.append((class_name, name, path, reason))
        if duplicates:
            entries += [(class_name, name, path,
                         "duplicate entry of this name (the first one is used)")] * duplicates
    return entries


def list_split(tree: Tree, root: str, split: str) -> list[tuple[str, str, str, str]]:
    """(class name, file name, path, reason not used or "") for every entry of a split,
    in a fixed order: what a zip and its extracted folder both say about each file."""
    return [entry for class_name, class_dir in class_folders(tree, root, split)
            for entry in list_class(tree, class_name, class_dir)]


@dataclasses.dataclass
class Vetted:
    """One source file's fate: bytes to store (kept or converted), or why it was skipped."""
    encoded: bytes | None
    action: str
    """"kept" (original JPEG bytes), "converted" (re-encoded as lossless PNG), "skipped"
    (a candidate that is not a usable image) or "ignored" (not a candidate at all: hidden,
    backup, duplicate or misplaced files)."""
    reason: str = ""
    sha256: str = ""


def vet(data: bytes, max_pixels: int) -> Vetted:
    """Keeps 8-bit RGB JPEGs byte for byte; converts what can be; skips the rest.

    Converted images are stored as PNG, losslessly: re-encoding them as JPEG would add a
    compression trace to exactly the odd files, which a forensic model would happily learn.
    """
    digest = hashlib.sha256(data).hexdigest()
    try:
        image = gate.open_image(data, max_pixels)
    except gate.ImageError as e:
        return Vetted(None, "skipped", str(e), digest)
    if image.format == "JPEG" and image.mode == "RGB":
        return Vetted(data, "kept", "", digest)
    original_mode = f"{image.format} {image.mode}"
    try:
        rgb = gate.to_rgb(image)
        out = io.BytesIO()
        rgb.save(out, format="PNG")
    except (OSError, ValueError) as e:
        return Vetted(None, "skipped", f"cannot convert {original_mode} to RGB: {e}", digest)
    return Vetted(out.getvalue(), "converted", f"{original_mode} -> RGB PNG", digest)


def vet_entry(tree: Tree, path: str, reason: str, max_pixels: int) -> Vetted:
    """One listed entry's fate (reason: why it is not a candidate, "" if it is one)."""
    if reason:
        return Vetted(None, "ignored", reason)
    problem = tree.problem(path)
    if problem:
        return Vetted(None, "skipped", problem)
    try:
        data = tree.read(path)
    except SourceError as e:
        return Vetted(None, "skipped", f"unreadable: {e}")
    return vet(data, max_pixels)


def iter_vetted(tree: Tree, root: str, split: str,
                max_pixels: int) -> Iterator[tuple[str, str, Vetted]]:
    """(class name, file name, Vetted) for every entry of a split; never raises on content."""
    for class_name, name, path, reason in list_split(tree, root, split):
        yield class_name, name, vet_entry(tree, path, reason, max_pixels)


def folder_tree(path: str) -> Tree:
    """A local folder, or one on a bucket or cluster file system."""
    return RemoteFolderTree(path) if is_remote(path) else FolderTree(path)


def open_tree(path: str) -> Tree:
    """A folder, or a zip read in place; ArchiveError if the zip is unusable as a whole."""
    is_file = epath.Path(path).is_file() if is_remote(path) else os.path.isfile(path)
    return ZipTree(path) if is_file else folder_tree(path)
