"""Writing a file into a folder someone else may also write to, without following links.

`open(path, "wb")` at a predictable name follows a symlink planted there and overwrites
whatever it points at (issue 25, case 9: explain PNGs). Here the bytes go to a new file
that only this call could have created (`tempfile.mkstemp`: O_CREAT | O_EXCL, a random
name, mode 0600 then the umask's usual mode), and `os.replace` then puts it at `path`: a
rename replaces the directory entry itself, so a link at `path` is replaced, never
followed, and a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Puts `data` at `path` atomically; OSError (nothing left behind) if it cannot."""
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    fd, partial = tempfile.mkstemp(prefix=".partial-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(partial, _umask_mode())
        os.replace(partial, path)
    except BaseException:
        try:
            os.unlink(partial)
        except OSError:
            pass
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))
