"""Reading one named file for the gate: regular files only, never more than the cap.

A FIFO blocks `open()` until some writer appears (forever, for a CLI user who passed one
by mistake) and `/dev/zero` never ends, so the file is opened without blocking, judged by
`fstat` on that very descriptor (no race with a rename), and read up to the cap plus one
byte, which is enough to tell "too big" without holding the rest.
"""

from __future__ import annotations

import os
import stat

from dfd.imaging.gate import MAX_FILE_BYTES, ImageError, TooLargeError


class NotARegularFileError(ImageError):
    """A FIFO, device, socket or folder where an image file was expected."""


class UnreadableFileError(ImageError):
    """The operating system refused to open or read the file."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def read_image_file(path: str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file at `path`, or an ImageError naming why not."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as e:
        raise UnreadableFileError(f"cannot read: {e.strerror or e}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFileError(f"{_kind(info.st_mode)}, not a regular file: refused")
        if info.st_size > max_bytes:
            raise TooLargeError(f"file is {info.st_size} bytes, over the {max_bytes} byte limit")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise UnreadableFileError(f"cannot read: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise TooLargeError(f"file grew past the {max_bytes} byte limit while being read")
    return data
