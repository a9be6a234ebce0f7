"""What a split's build did with each of its files, as `info.metadata` reports it.

Both ways of building (one process, or Beam workers) turn every listed file into one small
`FileRecord` and hand the records to `Summary`, so the counts, the lists of skipped and
ignored files and the source digest are computed by the same code from the same facts,
whichever way the files were vetted. A `Summary` can be merged with another, in any order
and grouping, to the same result: Beam combines partial summaries on its workers
(beam_generation.CombineReport), so no worker ever holds a split's records, only the
bad files' entries. For that the digest is order-free (a sum of per-file hashes), and the
lists of bad files carry each file's place in the listing and are sorted into it at the
end.
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


DIGEST_MODULUS = 2 ** 256


def record_digest(record: FileRecord) -> int:
    """One file's share of the split's digest: its key, whether it was ignored, its bytes'
    SHA-256."""
    line = f"{record.key}\t{record.action == 'ignored'}\t{record.sha256}\n".encode()
    return int.from_bytes(hashlib.sha256(line).digest(), "big")


class Summary:
    """Counts, lists and digest of one split, fed its records in any order or merged from
    partial summaries: memory for the bad files' entries only.

    The digest is the sum of every file's SHA-256 (`record_digest`) modulo 2**256: a
    multiset hash (AdHash), the same however the files were grouped or ordered, and
    changed by any file added, removed or altered. The key names each file, so the
    listing, which is sorted, is implied. Enough to tell builds apart (dfd.train.pipeline's
    cache identity), not a defence against files crafted to collide."""

    def __init__(self, split: str):
        self.split = split
        self.counts = collections.Counter()
        self.per_class = collections.Counter()
        self.skipped, self.ignored = [], []
        """(listing order, entry) pairs, sorted by order in `result`."""
        self.digest = 0

    def add(self, record: FileRecord) -> None:
        self.digest = (self.digest + record_digest(record)) % DIGEST_MODULUS
        self.counts[record.action] += 1
        if record.action == "skipped":
            self.skipped.append((record.order, {"file": record.key, "reason": record.reason}))
        elif record.action == "ignored":
            self.ignored.append((record.order, {"file": record.key, "reason": record.reason}))
        else:
            self.per_class[record.class_name] += 1

    def merge(self, other: "Summary") -> "Summary":
        """This summary with `other`'s files added (of the same split; disjoint files)."""
        self.digest = (self.digest + other.digest) % DIGEST_MODULUS
        self.counts.update(other.counts)
        self.per_class.update(other.per_class)
        self.skipped.extend(other.skipped)
        self.ignored.extend(other.ignored)
        return self

    def result(self) -> tuple[dict, dict]:
        """(the split's `metadata["splits"]` entry, its `metadata["class_counts"]` entry)."""
        counts = self.counts
        logging.info("deepfake_real_images: %s: %d kept, %d converted, %d skipped, %d ignored",
                     self.split, counts["kept"], counts["converted"], counts["skipped"],
                     counts["ignored"])
        in_order = lambda pairs: [entry for _, entry in sorted(pairs, key=lambda p: p[0])]
        report = {
            "files": sum(counts.values()),
            "kept": counts["kept"],
            "converted": counts["converted"],
            "skipped": counts["skipped"],
            "skipped_files": in_order(self.skipped),
            "ignored": counts["ignored"],
            "ignored_files": in_order(self.ignored),
            "source_sha256": f"{self.digest:064x}",
        }
        return report, {c: self.per_class[c] for c in spec.LABELS}


def summarise(split: str, records: Iterable[FileRecord]) -> tuple[dict, dict]:
    """`Summary.result()` of these records, in any order."""
    summary = Summary(split)
    for record in records:
        summary.add(record)
    return summary.result()
