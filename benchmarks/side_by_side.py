"""Teacher and device students side by side: what a student keeps of its teacher, and what it costs.

    python -m benchmarks.side_by_side --run=teacher=RUN_DIR --run=distilled=RUN_DIR \
        [--run=NAME=RUN_DIR ...] [--export=NAME=EXPORT_DIR ...] --data_dir=NAME=TFDS_DIR \
        [--data_dir=...] [--shared=../shared/data] [--repeats=200] [--photo_repeats=10] \
        [--out=FILE.json]

Each --run is a finished `dfd.train` run folder, exported (`python -m dfd.export
--workdir=RUN`) into RUN/export (or the folder --export names for it). For each run:
per-source test AUC of the Keras model (its metrics.json) and of its int8 file through
dfd.lite as a device runs it (each --data_dir's test split; whole images, the
preprocessing contract), the float robustness mean / worst AUC per source when the run
measured it, int8 bytes, multiply-adds counted from the .tflite graph (export.graph_cost), int8
milliseconds per crop at 1 and 2 threads with the checked kernels (`auto`), cold start of
`dfd-lite classify --faces=on` on a 5-face photo, and that 1 MP photo's wall time per verdict
with and without --explain at 1 thread (the face search included; faces from --shared's real
test images). Issue 23's question in one table: does the student judge like the teacher, and
how much cheaper is it. Run it alone on the machine: it prints the load average at start and
end, to tell a quiet run from a shared one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
from PIL import Image

from benchmarks import edge, faces
from benchmarks.generalization import int8_figures
from dfd.cli import quiet
from dfd.common import spec
from dfd.lite.detector import Detector
from dfd.lite.explain import Explainer
from export import graph_cost
from support.face_photos import SETS, compose, jpeg

PHOTO_SIZE = (1024, 768)  # about 1 MP: issue 23's 5-face photo
FACES = 5


def five_face_photo(shared: str, seed: int = 0) -> bytes:
    """One JPEG photo of five real test faces, the same for every run."""
    rng = np.random.default_rng(seed)
    pool = [path for name in SETS for path in faces.images_of(shared, name, "Test", "Real")]
    picked = [Image.open(pool[i]).convert("RGB")
              for i in rng.choice(len(pool), FACES, replace=False)]
    width, height = PHOTO_SIZE
    photo, _ = compose(rng, picked, width, height,
                       [int(v) for v in rng.integers(96, height // 4, FACES)])
    return jpeg(photo)


def photo_ms(bundle: str, photo: bytes, repeats: int) -> dict:
    """Median wall milliseconds from encoded photo to verdict (int8, 1 thread, faces on),
    then the same with every face's occlusion map (--explain)."""
    detector = Detector(os.path.join(bundle, "model_int8.tflite"), threads=1, faces="on")
    explainer = Explainer(detector)
    answer = detector.classify_bytes(photo)  # warm-up
    explainer.explain_bytes(photo)
    plain, explained = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        detector.classify_bytes(photo)
        plain.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        explainer.explain_bytes(photo)
        explained.append((time.perf_counter() - start) * 1000)
    return {"faces_found": len(answer.faces), "photo_ms": round(statistics.median(plain), 1),
            "photo_explain_ms": round(statistics.median(explained), 1)}


def run_row(name: str, run_dir: str, bundle: str, data_dirs: dict, photo: bytes, repeats: int,
            photo_repeats: int) -> dict:
    int8 = os.path.join(bundle, "model_int8.tflite")
    with open(os.path.join(run_dir, "metrics.json")) as f:
        metrics = json.load(f)
    with open(os.path.join(bundle, spec.MODEL_CARD)) as f:
        card = json.load(f)
    size = card["preprocessing"]["image_size"]
    pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), np.uint8)
    row = {"run": name, "run_dir": run_dir, "model": metrics.get("model"),
           "trained_on": metrics.get("trained_on"), "image_size": size,
           "int8_bytes": card["artifacts"]["model_int8.tflite"]["bytes"],
           "macs": graph_cost.count(int8)["macs"], "sources": {}}
    for source, data_dir in data_dirs.items():
        entry = metrics.get("sources", {}).get(source, {})
        float_auc = entry.get("splits", {}).get("test", {}).get("auc")
        robust = entry.get("robustness", {}).get("test", {})
        row["sources"][source] = {
            "test_auc": float_auc, "test_auc_int8": int8_figures(bundle, data_dir, "test")["auc"],
            "robustness_mean": robust.get("mean_auc"), "robustness_worst": robust.get("worst_auc")}
    for threads in (1, 2):
        row[f"int8_ms_{threads}_thread"] = edge.time_tflite(int8, pixels, threads, "auto",
                                                            repeats)["median_ms"]
    row["cold_start_s"] = faces.cold_start(bundle, photo)["wall_s"]
    row.update(photo_ms(bundle, photo, photo_repeats))
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def _figure(value, digits=3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(rows: list[dict], sources: list[str]) -> str:
    head = (["run", "model"] + [f"{s} test AUC float / int8" for s in sources]
            + [f"{s} robustness mean / worst" for s in sources]
            + ["int8 ms 1 / 2 threads", "int8 bytes", "MACs", "cold start s",
               "5-face photo ms / with --explain"])
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        cells = [row["run"], str(row["model"])]
        cells += [f"{_figure(row['sources'][s]['test_auc'])} / "
                  f"{_figure(row['sources'][s]['test_auc_int8'])}" for s in sources]
        cells += [f"{_figure(row['sources'][s]['robustness_mean'])} / "
                  f"{_figure(row['sources'][s]['robustness_worst'])}" for s in sources]
        cells += [f"{row['int8_ms_1_thread']:.2f} / {row['int8_ms_2_thread']:.2f}",
                  f"{row['int8_bytes']:,}", f"{row['macs'] / 1e6:.1f}M",
                  f"{row['cold_start_s']:.3f}",
                  f"{row['photo_ms']:.1f} / {row['photo_explain_ms']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", action="append", required=True, help="NAME=RUN_DIR, repeatable")
    parser.add_argument("--export", action="append", default=[],
                        help="NAME=EXPORT_DIR when a run's export is not RUN_DIR/export")
    parser.add_argument("--data_dir", action="append", required=True,
                        help="SOURCE=TFDS data dir, repeatable (named as in the runs' "
                             "metrics.json)")
    parser.add_argument("--shared", default="../shared/data",
                        help="the face sets whose real test faces make the 5-face photo")
    parser.add_argument("--repeats", type=int, default=200, help="timed calls per crop figure")
    parser.add_argument("--photo_repeats", type=int, default=10, help="timed calls per photo")
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    quiet.import_tensorflow()  # its C++ start-up lines held back, as dfd's binaries do
    data_dirs = dict(edge.named(args.data_dir))
    exports = dict(edge.named(args.export))
    runs = [(name, run_dir, exports.get(name, os.path.join(run_dir, "export")))
            for name, run_dir in edge.named(args.run)]
    for name, run_dir, bundle in runs:  # before any measuring: a missing export is a typo
        if not os.path.isfile(os.path.join(bundle, "model_int8.tflite")):
            raise SystemExit(f"--run={name}={run_dir}: no model_int8.tflite in {bundle} "
                             f"(python -m dfd.export --workdir={run_dir})")
    photo = five_face_photo(args.shared)
    load_start = os.getloadavg()
    rows = [run_row(name, run_dir, bundle, data_dirs, photo, args.repeats, args.photo_repeats)
            for name, run_dir, bundle in runs]
    result = {"rows": rows, "load_average_start": load_start,
              "load_average_end": os.getloadavg()}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
    print(markdown(rows, list(data_dirs)))
    print(f"load average {load_start[0]:.2f} at start, {result['load_average_end'][0]:.2f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
