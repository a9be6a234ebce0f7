"""What a split's build did with each of its files, as `info.metadata` reports it.

Both ways of building (one process, or Beam workers) turn every listed file into one small
`FileRecord` and hand the records to `Summary`, so the counts, the lists of skipped and
ignored files and the source digest are computed by the same code from the same facts,
whichever way the files were vetted. The digest depends on the listing order, so a record
carries its place in the listing and Beam's records, gathered in any order, are sorted
back into it.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import os
import time
from typing import Callable, Iterable

from absl import logging

from dfd.common import spec


@dataclasses.dataclass(frozen=True)
class FileRecord:
    """One listed file's fate, without its bytes."""
    order: tuple[int, int]
    """(class folder index, index in that folder's listing): the split's listing order."""
    class_name: str
    name: str
    action: str
    """"kept", "converted", "skipped" or "ignored" (`source_files.Vetted.action`)."""
    reason: str
    sha256: str

    @property
    def key(self) -> str:
        """class/name: the example's TFDS key, its metadata entry and its manifest line.

        File names are bytes; a name that is not valid UTF-8 (Python holds its stray bytes
        as surrogateescape) is written with a backslash escape per such byte (`caf\\xe9.jpg`),
        since TFDS keys, the metadata JSON and the digest need UTF-8. A valid name is
        itself, so no digest of an existing build changes."""
        return f"{self.class_name}/{printable(self.name)}"

    def as_tuple(self) -> tuple:
        """A plain tuple: what Beam moves between workers, cheap to pickle."""
        return (self.order, self.class_name, self.name, self.action, self.reason, self.sha256)

    @classmethod
    def from_tuple(cls, values) -> "FileRecord":
        order, *rest = values
        return cls(tuple(order), *rest)


def printable(name: str) -> str:
    """A file name as UTF-8 text: itself when it is valid, else its undecodable bytes as
    backslash escapes, never an error."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def log_record(split: str, record: FileRecord) -> None:
    """The per-file log line of a file the build does not store as it is."""
    if record.action in ("skipped", "ignored"):
        logging.warning("deepfake_real_images: %s %s/%s: %s", record.action, split,
                        record.key, record.reason)
    elif record.action == "converted":
        logging.info("deepfake_real_images: converted %s/%s (%s)", split, record.key,
                     record.reason)


class Progress:
    """A line every `every` seconds while a split is vetted: a 140k-file split takes
    minutes, and dfd's build command turns TFDS's progress bars off (they print a line per
    refresh when stderr is a file, as in CI and `make demo > log`)."""

    def __init__(self, split: str, every: float = 30.0,
                 clock: Callable[[], float] = time.monotonic):
        self.split, self.every, self.clock = split, every, clock
        self.files = 0
        self.start = self.last = clock()

    def tick(self) -> None:
        self.files += 1
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            logging.info("deepfake_real_images: %s: %d files vetted (%.0f files/s)", self.split,
                         self.files, self.files / max(now - self.start, 1e-9))


class Summary:
    """Counts, lists and digest of one split, fed its records in listing order: the
    one-process build feeds it as it goes (memory for the bad files only), Beam's report
    after sorting."""

    def __init__(self, split: str):
        self.split = split
        self.counts = collections.Counter()
        self.per_class = collections.Counter()
        self.skipped, self.ignored = [], []
        self.manifest = hashlib.sha256()

    def add(self, record: FileRecord) -> None:
        self.manifest.update(
            f"{record.key}\t{record.action == 'ignored'}\t{record.sha256}\n".encode())
        self.counts[record.action] += 1
        if record.action == "skipped":
            self.skipped.append({"file": record.key, "reason": record.reason})
        elif record.action == "ignored":
            self.ignored.append({"file": record.key, "reason": record.reason})
        else:
            self.per_class[record.class_name] += 1

    def result(self) -> tuple[dict, dict]:
        """(the split's `metadata["splits"]` entry, its `metadata["class_counts"]` entry)."""
        counts = self.counts
        logging.info("deepfake_real_images: %s: %d kept, %d converted, %d skipped, %d ignored",
                     self.split, counts["kept"], counts["converted"], counts["skipped"],
                     counts["ignored"])
        report = {
            "files": sum(counts.values()),
            "kept": counts["kept"],
            "converted": counts["converted"],
            "skipped": counts["skipped"],
            "skipped_files": self.skipped,
            "ignored": counts["ignored"],
            "ignored_files": self.ignored,
            "source_sha256": self.manifest.hexdigest(),
        }
        return report, {c: self.per_class[c] for c in spec.LABELS}


def summarise(split: str, records: Iterable[FileRecord]) -> tuple[dict, dict]:
    """`Summary.result()` for records in listing order."""
    summary = Summary(split)
    for record in records:
        summary.add(record)
    return summary.result()


def summarise_unordered(split: str, records: Iterable[FileRecord]) -> tuple[dict, dict]:
    """`summarise` for records gathered in any order (Beam's)."""
    return summarise(split, sorted(records, key=lambda r: r.order))
