"""The builder's examples as a Beam pipeline, for sources too large for one process.

Each split becomes: its class folders (found by the driver, a few directory reads) ->
listed on workers, one class folder each -> spread over the workers -> read, vetted
(`dfd.imaging` gate, the same bad-file rules), converted and hashed on the workers ->
(key, example) for TFDS to serialise and shard. Every file also leaves a small record
(`split_report.FileRecord`, no image bytes) on a side output; the records are gathered
once per split and summarised by the same code the one-process build uses into a JSON
report beside the dataset's files, which the builder moves into `info.metadata` after the
pipeline ran. Beam counters (`deepfake_real_images:<split>/<action>`) show the same counts
live in the runner's UI; the report is what the metadata holds.

Workers reopen the source from its location (a folder or a zip read in place), so
nothing but names and small records travel from the driver.
"""

from __future__ import annotations

import json
import os

import apache_beam as beam
from etils import epath

from dfd.builders.deepfake_real_images import source_files, split_report

NAMESPACE = "deepfake_real_images"
REPORT = "report"
ACTIONS = ("kept", "converted", "skipped", "ignored")


class _TreeDoFn(beam.DoFn):
    """Opens the source tree once per worker DoFn instance, never on the driver."""

    def __init__(self, location: str):
        self._location = location
        self._tree = None

    def setup(self):
        self._tree = source_files.open_tree(self._location)

    def teardown(self):
        close = getattr(self._tree, "close", None)
        if close:
            close()


class ListClassFolder(_TreeDoFn):
    """(class index, class name, folder) -> one entry per file of that class folder,
    carrying its place in the split's listing order. Name and path travel as bytes
    (`os.fsencode`): Beam encodes strings as UTF-8, and a file name need not be UTF-8."""

    def process(self, folder):
        class_index, class_name, class_dir = folder
        for index, (_, name, path, reason) in enumerate(
                source_files.list_class(self._tree, class_name, class_dir)):
            yield (class_index, index), class_name, os.fsencode(name), os.fsencode(path), reason


class VetFile(_TreeDoFn):
    """A listed entry -> (key, example) if usable, and always its record on `REPORT`."""

    def __init__(self, location: str, split: str, max_pixels: int):
        super().__init__(location)
        self._split = split
        self._max_pixels = max_pixels
        self._counters = {a: beam.metrics.Metrics.counter(NAMESPACE, f"{split}/{a}")
                          for a in ACTIONS}

    def process(self, entry):
        order, class_name, name, path, reason = entry
        name = split_report.printable(os.fsdecode(name))  # UTF-8 from here on (see key)
        vetted = source_files.vet_entry(self._tree, os.fsdecode(path), reason,
                                        self._max_pixels)
        record = split_report.FileRecord(tuple(order), class_name, name, vetted.action,
                                         vetted.reason, vetted.sha256)
        split_report.log_record(self._split, record)
        self._counters[vetted.action].inc()
        yield beam.pvalue.TaggedOutput(REPORT, record.as_tuple())
        if vetted.encoded is not None:
            yield record.key, {"image": vetted.encoded, "label": class_name,
                               "file_name": name}


def write_report(records: list, split: str, path: str) -> None:
    """Summarises a split's records (on one worker) into the JSON the driver reads back."""
    report, class_counts = split_report.summarise_unordered(
        split, [split_report.FileRecord.from_tuple(r) for r in records])
    epath.Path(path).write_text(json.dumps({"splits": report, "class_counts": class_counts}))


def read_report(path: str) -> tuple[dict, dict]:
    """(splits entry, class_counts entry) that `write_report` left at `path`."""
    report = json.loads(epath.Path(path).read_text())
    return report["splits"], report["class_counts"]


@beam.ptransform_fn
def GenerateSplit(pipeline, location: str, folders: list, split: str, max_pixels: int,
                  report_path: str):
    """PTransform for TFDS: the pipeline's (key, example) PCollection of one split."""
    outputs = (
        pipeline
        | "ClassFolders" >> beam.Create(folders)
        | "List" >> beam.ParDo(ListClassFolder(location))
        | "Spread" >> beam.Reshuffle()
        | "Vet" >> beam.ParDo(VetFile(location, split, max_pixels)).with_outputs(
            REPORT, main="examples"))
    _ = (outputs[REPORT]
         | "GatherRecords" >> beam.combiners.ToList()
         | "WriteReport" >> beam.Map(write_report, split=split, path=report_path))
    return outputs["examples"]


def generate_split(tree, root: str, split: str, max_pixels: int, report_path: str):
    """The PTransform TFDS's `_split_generators` returns for `split` of `tree`."""
    folders = [(i, class_name, class_dir) for i, (class_name, class_dir) in
               enumerate(source_files.class_folders(tree, root, split))]
    return GenerateSplit(tree.location, folders, split, max_pixels, report_path)
