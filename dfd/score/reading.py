"""Reading one matched file for scoring, with the same rules `dfd-lite classify` applies.

Local files go through `dfd.imaging.files` (regular files only, never more than the cap),
so a FIFO or a device in the glob gets the CLI's own error. Files on other Beam file
systems are judged by their listed size and read up to the cap plus one byte. Either way a
file that cannot be read becomes its own error, never an exception that fails the bundle.
"""

from __future__ import annotations

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


def read_file(metadata, max_bytes: int) -> tuple[str, bytes | None, str | None]:
    """A Beam FileMetadata -> (file, bytes, None) or (file, None, error)."""
    path = metadata.path
    try:
        return path, read_capped(path, getattr(metadata, "size_in_bytes", None), max_bytes), None
    except ImageError as e:
        return path, None, str(e)
