"""Finding the Kaggle folders and vetting each file, separate from TFDS plumbing.

The Kaggle download arrives in several shapes (the zip, the extracted `Dataset/` folder, or
a folder holding either), and real collections always contain a few files that are not
what their extension says. This module turns both facts into plain data the builder can
count and report, so no single bad file can stop a 190k-image build.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
from typing import Iterator

from dfd.imaging import gate

SPLIT_FOLDERS = {"train": "Train", "validation": "Validation", "test": "Test"}
CLASS_FOLDERS = {"real": "Real", "fake": "Fake"}


def _child(folder: str, name: str) -> str | None:
    """A child folder by case-insensitive name (Kaggle mirrors differ in case)."""
    try:
        entries = os.listdir(folder)
    except OSError:
        return None
    for entry in sorted(entries):
        if entry.lower() == name.lower() and os.path.isdir(os.path.join(folder, entry)):
            return os.path.join(folder, entry)
    return None


def is_dataset_root(folder: str) -> bool:
    """True for a folder with at least one split folder holding Real/ or Fake/."""
    for split in SPLIT_FOLDERS.values():
        split_dir = _child(folder, split)
        if split_dir and any(_child(split_dir, c) for c in CLASS_FOLDERS.values()):
            return True
    return False


def find_dataset_root(folder: str, max_depth: int = 3) -> str | None:
    """The shallowest folder under `folder` laid out as Kaggle's `Dataset/` (or None)."""
    level = [folder]
    for _ in range(max_depth + 1):
        for candidate in level:
            if is_dataset_root(candidate):
                return candidate
        next_level = []
        for candidate in level:
            try:
                entries = sorted(os.listdir(candidate))
            except OSError:
                continue
            next_level += [os.path.join(candidate, e) for e in entries
                           if os.path.isdir(os.path.join(candidate, e))]
        level = next_level
    return None


def find_zip(folder: str) -> str | None:
    """The Kaggle archive in `folder`, if the user put the zip there instead of folders."""
    zips = sorted(e for e in os.listdir(folder) if e.lower().endswith(".zip"))
    return os.path.join(folder, zips[0]) if zips else None


def list_split(root: str, split: str) -> list[tuple[str, str, str]]:
    """(class name, file name, path) of every file of a split, in a fixed order."""
    split_dir = _child(root, SPLIT_FOLDERS[split])
    files = []
    if not split_dir:
        return files
    for class_name, folder in CLASS_FOLDERS.items():
        class_dir = _child(split_dir, folder)
        if not class_dir:
            continue
        for name in sorted(os.listdir(class_dir)):
            path = os.path.join(class_dir, name)
            if os.path.isfile(path):
                files.append((class_name, name, path))
    return files


@dataclasses.dataclass
class Vetted:
    """One source file's fate: bytes to store (kept or converted), or why it was skipped."""
    encoded: bytes | None
    action: str
    """"kept" (original JPEG bytes), "converted" (re-encoded as lossless PNG) or "skipped"."""
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


def iter_vetted(root: str, split: str, max_pixels: int) -> Iterator[tuple[str, str, Vetted]]:
    """(class name, file name, Vetted) for every file of a split; never raises on content."""
    for class_name, name, path in list_split(root, split):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            yield class_name, name, Vetted(None, "skipped", f"unreadable: {e}")
            continue
        yield class_name, name, vet(data, max_pixels)
