"""Where the records go: JSON lines (one object per file, as `dfd-lite classify` prints) or
Parquet (one row per file, for tables of millions), as sharded files under a prefix that
any Beam file system takes."""

from __future__ import annotations

import json

import apache_beam as beam

FORMATS = ("jsonl", "parquet")
FIELDS = ("file", "p_fake", "p_fake_raw", "verdict", "threshold", "uncertain", "judged",
          "faces", "note", "model_sha256", "error")


def parquet_schema():
    import pyarrow as pa
    face = pa.struct([("box", pa.list_(pa.float64())), ("score", pa.float64()),
                      ("p_fake", pa.float64()), ("p_fake_raw", pa.float64()),
                      ("verdict", pa.string()), ("crop", pa.list_(pa.int64()))])
    return pa.schema([("file", pa.string()), ("p_fake", pa.float64()),
                      ("p_fake_raw", pa.float64()), ("verdict", pa.string()),
                      ("threshold", pa.float64()), ("uncertain", pa.list_(pa.float64())),
                      ("judged", pa.string()), ("faces", pa.list_(face)), ("note", pa.string()),
                      ("model_sha256", pa.string()), ("error", pa.string())])


def row(record: dict) -> dict:
    """A record with every column present (None where it does not apply)."""
    return {field: record.get(field) for field in FIELDS}


def write(records, prefix: str, fmt: str):
    """Writes the records under `prefix`; returns the write transform's result."""
    if fmt == "jsonl":
        return (records
                | "ToJson" >> beam.Map(json.dumps)
                | "WriteJsonLines" >> beam.io.WriteToText(prefix, file_name_suffix=".jsonl"))
    if fmt == "parquet":
        return (records
                | "ToRows" >> beam.Map(row)
                | "WriteParquet" >> beam.io.WriteToParquet(prefix, parquet_schema(),
                                                          file_name_suffix=".parquet"))
    raise ValueError(f"--format must be one of {FORMATS}, not {fmt!r}")
