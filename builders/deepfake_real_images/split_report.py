"""What a split's build did with each of its files, as `info.metadata` reports it.

Both ways of building (one process, or Beam workers) turn every listed file into one small
`FileRecord` and hand the records to `SplitReport`, so the counts, the lists of skipped and
ignored files and the source digest are computed by the same code from the same facts,
whichever way the files were vetted. The digest depends on the listing order, so a record
carries its place in the listing and Beam's records, gathered in any order, are sorted
back into it.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
from typing import Iterable

from absl import logging

from dfd import spec


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
        return f"{self.class_name}/{self.name}"

    def as_tuple(self) -> tuple:
        """A plain tuple: what Beam moves between workers, cheap to pickle."""
        return (self.order, self.class_name, self.name, self.action, self.reason, self.sha256)

    @classmethod
    def from_tuple(cls, values) -> "FileRecord":
        order, *rest = values
        return cls(tuple(order), *rest)


def log_record(split: str, record: FileRecord) -> None:
    """The per-file log line of a file the build does not store as it is."""
    if record.action in ("skipped", "ignored"):
        logging.warning("deepfake_real_images: %s %s/%s: %s", record.action, split,
                        record.key, record.reason)
    elif record.action == "converted":
        logging.info("deepfake_real_images: converted %s/%s (%s)", split, record.key,
                     record.reason)


def summarise(split: str, records: Iterable[FileRecord]) -> tuple[dict, dict]:
    """(the split's `metadata["splits"]` entry, its `metadata["class_counts"]` entry), from
    its records in listing order."""
    counts = collections.Counter()
    per_class = collections.Counter()
    skipped, ignored = [], []
    manifest = hashlib.sha256()
    for record in records:
        manifest.update(
            f"{record.key}\t{record.action == 'ignored'}\t{record.sha256}\n".encode())
        counts[record.action] += 1
        if record.action == "skipped":
            skipped.append({"file": record.key, "reason": record.reason})
        elif record.action == "ignored":
            ignored.append({"file": record.key, "reason": record.reason})
        else:
            per_class[record.class_name] += 1
    logging.info("deepfake_real_images: %s: %d kept, %d converted, %d skipped, %d ignored",
                 split, counts["kept"], counts["converted"], counts["skipped"],
                 counts["ignored"])
    report = {
        "files": sum(counts.values()),
        "kept": counts["kept"],
        "converted": counts["converted"],
        "skipped": counts["skipped"],
        "skipped_files": skipped,
        "ignored": counts["ignored"],
        "ignored_files": ignored,
        "source_sha256": manifest.hexdigest(),
    }
    return report, {c: per_class[c] for c in spec.LABELS}


def summarise_unordered(split: str, records: Iterable[FileRecord]) -> tuple[dict, dict]:
    """`summarise` for records gathered in any order (Beam's)."""
    return summarise(split, sorted(records, key=lambda r: r.order))
