"""Where the records go: JSON lines (one object per file, as `dfd-lite classify` prints) or
Parquet (one row per file, for tables of millions), as sharded files under a prefix that
any Beam file system takes.

Records travel with the file name as bytes (`dfd.score.reading`). JSON lines name it as
dfd-lite does: `file` decoded with surrogateescape, so a byte that is not UTF-8 is written
as a `\\udcXX` escape and `os.fsencode(record["file"])` gives the bytes back. Parquet's
string columns must be UTF-8, so there `file` shows such bytes as U+FFFD and the
`file_bytes` column holds the exact name.
"""

from __future__ import annotations

import json
import os

import apache_beam as beam

FORMATS = ("jsonl", "parquet")
FIELDS = ("file", "file_bytes", "p_fake", "verdict", "threshold", "judged", "faces",
          "model_sha256", "error")


def parquet_schema():
    import pyarrow as pa
    face = pa.struct([("box", pa.list_(pa.float64())), ("score", pa.float64()),
                      ("p_fake", pa.float64()), ("verdict", pa.string()),
                      ("crop", pa.list_(pa.int64()))])
    return pa.schema([("file", pa.string()), ("file_bytes", pa.binary()),
                      ("p_fake", pa.float64()),
                      ("verdict", pa.string()), ("threshold", pa.float64()),
                      ("judged", pa.string()), ("faces", pa.list_(face)),
                      ("model_sha256", pa.string()), ("error", pa.string())])


def json_line(record: dict) -> str:
    """The record as dfd-lite prints it: `file` named as in the module docstring."""
    return json.dumps({**record, "file": os.fsdecode(record["file"])})


def row(record: dict) -> dict:
    """A Parquet row with every column present (None where it does not apply)."""
    name = os.fsencode(record["file"])
    return {**{field: record.get(field) for field in FIELDS},
            "file": name.decode("utf-8", "replace"), "file_bytes": name}


def write(records, prefix: str, fmt: str):
    """Writes the records under `prefix`; returns the write transform's result."""
    if fmt == "jsonl":
        return (records
                | "ToJson" >> beam.Map(json_line)
                | "WriteJsonLines" >> beam.io.WriteToText(prefix, file_name_suffix=".jsonl"))
    if fmt == "parquet":
        return (records
                | "ToRows" >> beam.Map(row)
                | "WriteParquet" >> beam.io.WriteToParquet(prefix, parquet_schema(),
                                                          file_name_suffix=".parquet"))
    raise ValueError(f"--format must be one of {FORMATS}, not {fmt!r}")
