"""The Kaggle download as a tree of names, the same whether it is a folder or a zip.

The builder never extracts the archive: entries are read straight from the zip, after
each is checked from its header (size, compression ratio, type, name, encryption) and
its CRC verified while it is read. Nothing is written, so nothing can escape its folder,
fill the disk or be left half-extracted, and one bad entry is that entry's problem. Both
kinds of tree answer the same four questions, so `source_files` lists a zip and its
extracted folder identically, down to the order and the files it does not use.

Why not TFDS's own `dl_manager.iter_archive`, which also streams a zip without extracting
it: it yields only `(normalised name, open file)` in archive order, so none of the entry
checks above can be kept (tested in tests/builders/test_zip_entries.py, TFDS 4.9):
- it calls `ZipFile.open` on every entry before yielding it, so one encrypted entry raises
  RuntimeError inside the generator and ends the iteration: the build loses every entry
  after it, which is the failure this reader exists to prevent;
- no `ZipInfo` reaches the caller: no declared size or compressed size to refuse a zip
  bomb before inflating it, no mode bits to tell a symlink entry from a file;
- names pass through `os.path.normpath` and names starting with "." or ending in "~" are
  dropped silently, so `Real/../Fake/x.jpg` arrives as a Fake image and hidden files go
  uncounted, unlike the extracted folder of the same data;
- archive order with no listing first: the Dataset/ root, duplicates and the folder's
  sorted order (which the examples and digests depend on) are unknown until the end.
"""

from __future__ import annotations

import os
import stat
import zipfile
import zlib

from etils import epath

from dfd.imaging.files import read_image_file
from dfd.imaging.gate import MAX_FILE_BYTES, ImageError

MAX_NAME_BYTES = 255
"""Longest file or folder name any common file system stores."""

MAX_RATIO = 100
"""Uncompressed over compressed size allowed for entries over 1 MB (zip bomb guard);
JPEGs barely compress, so a real face image is nowhere near."""

MAX_ENTRIES = 2_000_000
"""Entries in one archive; Kaggle's has about 190,000."""


class SourceError(Exception):
    """One entry or file cannot be read; the message says why, for the metadata."""


class ArchiveError(ValueError):
    """The archive as a whole is unusable (not a zip, damaged directory, too many entries)."""


class FolderTree:
    """A folder on disk; paths are "/"-joined and relative to it."""

    def __init__(self, root: str):
        self.root = root
        self.location = root
        """What `source_files.open_tree` reopens this tree from (on a Beam worker)."""

    def _path(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/")) if rel else self.root

    def listdir(self, rel: str) -> list[str]:
        try:
            return sorted(os.listdir(self._path(rel)))
        except OSError:
            return []

    def isdir(self, rel: str) -> bool:
        return os.path.isdir(self._path(rel))

    def isfile(self, rel: str) -> bool:
        return os.path.isfile(self._path(rel))

    def problem(self, rel: str) -> str:
        return ""

    def read(self, rel: str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
        try:
            return read_image_file(self._path(rel), max_bytes)
        except ImageError as e:
            raise SourceError(str(e)) from None

    def describe(self, rel: str) -> str:
        return self._path(rel)


def is_remote(path: str) -> bool:
    """True for a bucket or cluster path (gs://, s3://, hdfs://): read through etils.epath,
    which TFDS itself uses for such paths, instead of the local file functions."""
    return "://" in os.fspath(path)


class RemoteFolderTree(FolderTree):
    """A folder on a bucket or cluster file system, where a Beam build's workers read it.

    Object stores have no FIFOs or devices, so the local reader's file-type checks are
    replaced by the listed size, judged before anything is read."""

    def _path(self, rel: str) -> str:
        return f"{self.root.rstrip('/')}/{rel}" if rel else self.root

    def listdir(self, rel: str) -> list[str]:
        try:
            return sorted(p.name for p in epath.Path(self._path(rel)).iterdir())
        except (OSError, ValueError):
            return []

    def isdir(self, rel: str) -> bool:
        return epath.Path(self._path(rel)).is_dir()

    def isfile(self, rel: str) -> bool:
        return epath.Path(self._path(rel)).is_file()

    def read(self, rel: str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
        path = epath.Path(self._path(rel))
        try:
            size = path.stat().length
            if size > max_bytes:
                raise SourceError(f"file is {size} bytes, over the {max_bytes} byte limit")
            with path.open("rb") as f:
                data = f.read(max_bytes + 1)
        except (OSError, ValueError) as e:
            raise SourceError(f"cannot read: {type(e).__name__}: {e}") from None
        if len(data) > max_bytes:
            raise SourceError(f"file grew past the {max_bytes} byte limit while being read")
        return data


class ZipTree:
    """A zip archive read in place; duplicate entries keep the first and report the rest."""

    def __init__(self, path: str):
        self.path = path
        self.location = path
        """What `source_files.open_tree` reopens this tree from (on a Beam worker)."""
        try:
            self._zip = zipfile.ZipFile(epath.Path(path).open("rb") if is_remote(path) else path)
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise ArchiveError(f"{path} is not a readable zip archive: {e}") from None
        if len(infos) > MAX_ENTRIES:
            raise ArchiveError(f"{path} has {len(infos)} entries, over the {MAX_ENTRIES} limit")
        self._files: dict[str, zipfile.ZipInfo] = {}
        self._dirs: dict[str, set[str]] = {"": set()}
        self.duplicates: dict[str, int] = {}
        for info in infos:
            parts = [p for p in info.filename.split("/") if p]
            if not parts:
                continue
            for depth in range(len(parts)):
                parent = "/".join(parts[:depth])
                self._dirs.setdefault(parent, set()).add(parts[depth])
            name = "/".join(parts)
            if info.is_dir():
                self._dirs.setdefault(name, set())
            elif name in self._files:
                self.duplicates[name] = self.duplicates.get(name, 0) + 1
            else:
                self._files[name] = info

    def close(self):
        self._zip.close()

    def listdir(self, rel: str) -> list[str]:
        return sorted(self._dirs.get(rel, ()))

    def isdir(self, rel: str) -> bool:
        return rel in self._dirs

    def isfile(self, rel: str) -> bool:
        return rel in self._files and rel not in self._dirs

    def problem(self, rel: str) -> str:
        """Why this entry must not be read, judged from its header alone ("" if none)."""
        info = self._files[rel]
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFLNK:
            return "symbolic link entry (never followed)"
        if kind not in (0, stat.S_IFREG):
            return "not a regular file entry"
        if info.flag_bits & 0x1:
            return "encrypted entry"
        if any(len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES
               for part in rel.split("/")):
            return f"name longer than {MAX_NAME_BYTES} bytes"
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED,
                                      zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
            return f"unsupported compression method {info.compress_type}"
        if info.file_size > MAX_FILE_BYTES:
            return f"{info.file_size} bytes uncompressed, over the {MAX_FILE_BYTES} byte limit"
        if info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            return (f"compression ratio {info.file_size // max(info.compress_size, 1)}:1, over "
                    f"{MAX_RATIO}:1 (zip bomb guard)")
        return ""

    def read(self, rel: str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
        """The entry's bytes; zipfile stops at the declared size and checks the CRC."""
        info = self._files[rel]
        try:
            with self._zip.open(info) as f:
                data = f.read(min(max_bytes, info.file_size) + 1)
        except zipfile.BadZipFile as e:
            raise SourceError(f"damaged entry: {e}") from None
        except (zlib.error, EOFError, OSError, ValueError, RuntimeError,
                NotImplementedError) as e:
            raise SourceError(f"unreadable entry: {type(e).__name__}: {e}") from None
        if len(data) > max_bytes:
            raise SourceError(f"entry is over the {max_bytes} byte limit")
        return data

    def describe(self, rel: str) -> str:
        return f"{self.path}:{rel}"
