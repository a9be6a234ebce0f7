"""The scoring pipeline: match the globs, spread the files over the workers, read each
(capped, errors kept), score in batches with RunInference, write one record per file.

No file is dropped: a file that cannot be read or decoded travels on as its own error
record, and counters (`dfd_score:classified`, `fake`, `failed`) give the driver its
summary without reading the output back.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference

from dfd.lite.detector import NO_FACE
from dfd.score import outputs, reading
from dfd.score.handler import DetectorHandler

NAMESPACE = "dfd_score"


COUNTERS = ("classified", "fake", "no_face", "failed")


class CountRecords(beam.DoFn):
    """Passes each file's records on and counts them for the driver's summary."""

    def __init__(self):
        self._counters = {name: beam.metrics.Metrics.counter(NAMESPACE, name)
                          for name in COUNTERS}

    def process(self, result):
        for record in result.inference:
            if "error" in record:
                self._counters["failed"].inc()
            else:
                self._counters["classified"].inc()
                if record["verdict"] == "fake":
                    self._counters["fake"].inc()
                elif record["verdict"] == NO_FACE:
                    self._counters["no_face"].inc()
            yield record


def build(pipeline, globs: list[str], handler: DetectorHandler, output: str, fmt: str,
          max_bytes: int):
    """Adds the scoring steps to `pipeline`; returns the written files' PCollection."""
    records = (
        pipeline
        | "Globs" >> beam.Create(globs)
        | "Match" >> beam.FlatMap(reading.match)
        | "Spread" >> beam.Reshuffle()
        | "Read" >> beam.Map(reading.read_file, max_bytes=max_bytes)
        | "Score" >> RunInference(handler)
        | "Records" >> beam.ParDo(CountRecords()))
    return outputs.write(records, output, fmt)


def counts(result) -> dict[str, int] | None:
    """The counters' committed values, or None where the runner reports no metrics."""
    try:
        found = result.metrics().query(
            beam.metrics.MetricsFilter().with_namespace(NAMESPACE))["counters"]
    except Exception:  # noqa: BLE001 - some runners do not support metrics queries
        return None
    totals = dict.fromkeys(COUNTERS, 0)
    for counter in found:
        value = counter.committed if counter.committed is not None else counter.attempted
        if counter.key.metric.name in totals:  # RunInference adds its own counters
            totals[counter.key.metric.name] += value or 0
    return totals
