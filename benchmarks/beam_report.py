"""The Beam build's per-file report: memory of gathering a split's records against combining them.

    python -m benchmarks.beam_report [--files=10000,100000] [--bad_fraction=0.01]

A split of N listed files makes N small records (`split_report.FileRecord`, one tuple per
file, what Beam moves between workers). Gathering them on one worker, as the build did
before issue 24, holds all N; `beam_generation.CombineReport` folds them into a
`split_report.Summary` where they are made, which keeps counts, the digest and only the
bad files' entries. For each N this makes a synthetic listing (a `bad_fraction` of files
skipped, names and digests shaped like real ones), and measures with tracemalloc the peak
Python memory of (a) the gathered list of record tuples and (b) one accumulator fed the same
records through the CombineFn, plus the pickled size of that accumulator (what a worker
sends to be merged). Prints a Markdown table and one JSON line; no TensorFlow, a few
seconds per 100k files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import tracemalloc

from dfd.builders.deepfake_real_images import split_report
from dfd.builders.deepfake_real_images.beam_generation import CombineReport


def synthetic_records(files: int, bad_fraction: float):
    """Record tuples of a listing of `files` images, every 1/bad_fraction-th skipped."""
    every = max(1, round(1 / bad_fraction)) if bad_fraction > 0 else files + 1
    for index in range(files):
        bad = index % every == every - 1
        yield split_report.FileRecord(
            order=(index % 2, index // 2), class_name=("Fake", "Real")[index % 2],
            name=f"{index:09d}.jpg", action="skipped" if bad else "kept",
            reason="cannot identify image file" if bad else "",
            sha256=hashlib.sha256(index.to_bytes(8, "big")).hexdigest()).as_tuple()


def peak_mb(build) -> tuple[float, object]:
    """(peak traced MB while `build()` runs and its result stays alive, the result)."""
    tracemalloc.start()
    try:
        result = build()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 1e6, result


def measure(files: int, bad_fraction: float) -> dict:
    gathered_mb, gathered = peak_mb(lambda: list(synthetic_records(files, bad_fraction)))
    del gathered
    combine = CombineReport("train")

    def fold():
        summary = combine.create_accumulator()
        for record in synthetic_records(files, bad_fraction):
            summary = combine.add_input(summary, record)
        return summary

    combined_mb, summary = peak_mb(fold)
    return {"files": files, "bad_files": summary.counts["skipped"],
            "gathered_mb": round(gathered_mb, 2),
            "gathered_bytes_per_file": round(gathered_mb * 1e6 / files),
            "combined_peak_mb": round(combined_mb, 3),
            "combined_pickled_kb": round(len(pickle.dumps(summary)) / 1e3, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", default="10000,100000",
                        help="comma-separated listing sizes to measure")
    parser.add_argument("--bad_fraction", type=float, default=0.01,
                        help="share of the listing that is skipped (kept in the report)")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.files.split(",")]
    if any(n <= 0 for n in sizes) or not 0 <= args.bad_fraction <= 1:
        parser.error("--files must be positive counts and --bad_fraction in [0, 1]")
    rows = [measure(n, args.bad_fraction) for n in sizes]
    print("| files | bad files | gathered records MB (B/file) | combined peak MB | "
          "combined pickled kB |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['files']:,} | {r['bad_files']:,} | {r['gathered_mb']} "
              f"({r['gathered_bytes_per_file']}) | {r['combined_peak_mb']} | "
              f"{r['combined_pickled_kb']} |")
    print(json.dumps({"bad_fraction": args.bad_fraction, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
