"""Matching the globs and reading one matched file for scoring, with the rules `dfd-lite
classify` applies.

Every entry a local glob matches is answered, links that lead nowhere and link loops
included (Beam's local listing skips any entry whose size it cannot read, which lost those
files' answers, issue 25 case 6); folders are not entries (a glob names files, as in Beam).
Globs on other file systems are Beam's. File names are bytes from here on (`os.fsencode`):
Beam encodes a pipeline's strings as UTF-8, and a name that is not valid UTF-8 once failed
the whole job; `dfd.score.outputs` turns them back into the record's `file`.

Local files go through `dfd.imaging.files` (regular files only, never more than the cap),
so a FIFO or a device in the glob gets the CLI's own error. Files on other Beam file
systems are judged by their listed size and read up to the cap plus one byte. Either way a
file that cannot be read becomes its own error, never an exception that fails the bundle.
"""

from __future__ import annotations

import glob
import os
from typing import Iterator

from dfd.imaging.files import read_image_file
from dfd.imaging.gate import ImageError, TooLargeError
from dfd.score.bundle import is_remote


def local_path(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


def read_capped(path: str, size: int | None, max_bytes: int) -> bytes:
    """The file's bytes, or ImageError saying why not."""
    if not is_remote(path):
        return read_image_file(local_path(path), max_bytes)
    from apache_beam.io.filesystems import FileSystems
    if size is not None and size > max_bytes:
        raise TooLargeError(f"file is {size} bytes, over the {max_bytes} byte limit")
    try:
        with FileSystems.open(path, compression_type="uncompressed") as f:
            data = f.read(max_bytes + 1)
    except Exception as e:  # noqa: BLE001 - any file system's failure is this file's
        raise ImageError(f"cannot read: {type(e).__name__}: {e}") from None
    if len(data) > max_bytes:
        raise TooLargeError(f"file grew past the {max_bytes} byte limit while being read")
    return data


def match(pattern: str) -> Iterator[tuple[bytes, int | None]]:
    """(name as bytes, listed size or None) of every entry the glob matches, in order."""
    if is_remote(pattern):
        from apache_beam.io.filesystems import FileSystems
        (found,) = FileSystems.match([pattern])
        for metadata in found.metadata_list:
            yield os.fsencode(metadata.path), metadata.size_in_bytes
        return
    names = glob.glob(local_path(pattern), recursive=True, include_hidden=True)
    for name in sorted(names, key=os.fsencode):
        if not (os.path.isdir(name) and not os.path.islink(name)):
            yield os.fsencode(name), None


def read_file(entry: tuple[bytes, int | None], max_bytes: int
              ) -> tuple[bytes, bytes | None, str | None]:
    """A matched (name, size) -> (name, bytes, None) or (name, None, error)."""
    name, size = entry
    try:
        return name, read_capped(os.fsdecode(name), size, max_bytes), None
    except ImageError as e:
        return name, None, str(e)
