"""Edge benchmark: artifact sizes, latency, cold start, venv sizes, accuracy per artifact.

    python -m benchmarks.edge --export=DIR [--compare=NAME=DIR ...] [--parity=NAME=DIR ...]
        [--image=JPEG] [--repeats=200] [--venvs]

--export is the default model's export folder; each --compare is another model exported
the same way (the seed CNN, EfficientNet-Lite0). For every .tflite: milliseconds per image
(median and p95 over --repeats calls on one preprocessed image, after a warm-up) at 1 and
2 threads, with the runtime's default kernels (`auto`: XNNPACK if the golden check passes,
the row says which ran and why) and, for int8, the builtin kernels too; the SavedModel in
TensorFlow the same way (a subprocess per thread count: TensorFlow fixes its thread pools at
start-up). Cold start: process start to first printed verdict, `dfd-lite classify` (int8
with the golden check and with --kernels=xnnpack, which skips it) against a script loading
the SavedModel; the check's own milliseconds are in each auto row (check_ms). --venvs builds the wheel and measures fresh venvs holding
only dfd[edge] and only dfd[train]. --parity NAME=DIR tables accuracy and AUC of each
artifact from an export's parity.json. Run it alone on the machine: the results carry the
load average at start and end, to tell a quiet run from a shared one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from dfd.common import spec
from dfd.lite.detector import Detector

SAVED_MODEL_WORKER = """
import sys, time, json
import numpy as np
import tensorflow as tf
threads, path, size, repeats = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
tf.config.threading.set_intra_op_parallelism_threads(threads)
tf.config.threading.set_inter_op_parallelism_threads(threads)
serve = tf.saved_model.load(path).signatures["serving_default"]
image = tf.constant(np.random.default_rng(0).integers(0, 256, (1, size, size, 3), np.uint8))
for _ in range(10):
    serve(images=image)
times = []
for _ in range(repeats):
    start = time.perf_counter()
    serve(images=image)["p_fake"].numpy()
    times.append((time.perf_counter() - start) * 1000)
print(json.dumps(times))
"""

SAVED_MODEL_COLD = """
import sys
import tensorflow as tf
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_bytes"]
data = open(sys.argv[2], "rb").read()
print(float(serve(image_bytes=tf.constant([data]))["p_fake"][0]))
"""


def summarize(times: list[float]) -> dict:
    return {"median_ms": round(statistics.median(times), 3),
            "p95_ms": round(float(np.percentile(times, 95)), 3)}


def time_tflite(path: str, pixels: np.ndarray, threads: int, kernels: str, repeats: int):
    detector = Detector(path, threads=threads, kernels=kernels)
    for _ in range(10):
        detector.p_fake_pixels(pixels)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        detector.p_fake_pixels(pixels)
        times.append((time.perf_counter() - start) * 1000)
    choice = detector.kernel_choice
    return {**summarize(times), "asked": kernels, "kernels": choice.kernels,
            "reason": choice.reason, "check_ms": choice.as_dict()["check_ms"]}


def time_saved_model(path: str, size: int, threads: int, repeats: int) -> dict:
    out = subprocess.run([sys.executable, "-c", SAVED_MODEL_WORKER, str(threads), path,
                          str(size), str(repeats)], capture_output=True, text=True, check=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                              "CUDA_VISIBLE_DEVICES": ""})
    return summarize(json.loads(out.stdout.splitlines()[-1]))


def cold_start(command: list[str], repeats: int) -> float:
    """Median seconds from process start to its exit after printing one verdict."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                            "CUDA_VISIBLE_DEVICES": ""})
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 3)


def folder_mb(path: str) -> float:
    out = subprocess.run(["du", "-sm", path], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[0])


def venv_sizes(root: str) -> dict:
    """Fresh venvs with only dfd[edge] and only dfd[train], from the wheel."""
    work = tempfile.mkdtemp(prefix="dfd-venvs-")
    try:
        subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", work, root],
                       check=True, capture_output=True)
        wheel = next(os.path.join(work, n) for n in os.listdir(work) if n.endswith(".whl"))
        sizes = {}
        for extra in ("edge", "train"):
            venv = os.path.join(work, extra)
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
            subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q",
                            f"{wheel}[{extra}]"], check=True, capture_output=True)
            sizes[extra] = folder_mb(venv)
        return sizes
    finally:
        shutil.rmtree(work, ignore_errors=True)


def model_rows(name: str, folder: str, pixels_for, repeats: int) -> list[dict]:
    with open(os.path.join(folder, spec.MODEL_CARD)) as f:
        card = json.load(f)
    size = card["preprocessing"]["image_size"]
    rows = []
    for artifact, entry in card["artifacts"].items():
        for threads in (1, 2):
            if entry["kind"] == "tflite":
                variants = ["auto", "builtin"] if entry["precision"] == "int8" else ["auto"]
                for kernels in variants:
                    timing = time_tflite(os.path.join(folder, artifact), pixels_for(size),
                                         threads, kernels, repeats)
                    rows.append({"model": name, "artifact": artifact, "threads": threads,
                                 "bytes": entry["bytes"], **timing})
            else:
                timing = time_saved_model(os.path.join(folder, artifact), size, threads, repeats)
                rows.append({"model": name, "artifact": artifact, "threads": threads,
                             "bytes": entry["bytes"], "kernels": "tensorflow", **timing})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def parity_rows(name: str, folder: str) -> list[dict]:
    with open(os.path.join(folder, "parity.json")) as f:
        parity = json.load(f)
    rows = [{"model": name, "split": parity["split"], "artifact": "saved_model",
             **parity["saved_model"]}]
    for precision, row in parity["tflite"].items():
        rows.append({"model": name, "split": parity["split"], "artifact": precision,
                     "accuracy": row["accuracy"], "auc": row["auc"],
                     "max_abs_p_difference": row["max_abs_p_difference"]})
    return rows


def named(values: list[str]) -> list[tuple[str, str]]:
    return [tuple(v.split("=", 1)) for v in values]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--export", required=True, help="the default model's export folder")
    parser.add_argument("--compare", action="append", default=[], help="NAME=export folder")
    parser.add_argument("--parity", action="append", default=[], help="NAME=export folder")
    parser.add_argument("--image", help="a JPEG for timing and cold start (default: generated)")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--venvs", action="store_true", help="also measure fresh venv sizes")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    if args.image:
        data = open(args.image, "rb").read()
    else:
        from benchmarks.serve_load import generated_images
        data = generated_images(1)[0]
    image_path = os.path.join(tempfile.mkdtemp(prefix="dfd-bench-"), "probe.jpg")
    with open(image_path, "wb") as f:
        f.write(data)

    def pixels_for(size):
        from dfd.lite import imageio
        from dfd.common import preprocess
        return preprocess.preprocess(imageio.decode_rgb(data), size)

    results = {"latency": [], "cold_start_s": {}, "parity": [],
               "load_average_at_start": os.getloadavg(), "cpus_usable": len(
                   os.sched_getaffinity(0))}
    for name, folder in [("default", args.export), *named(args.compare)]:
        results["latency"] += model_rows(name, folder, pixels_for, args.repeats)
    results["cold_start_s"]["dfd-lite int8 (auto: golden check)"] = cold_start(
        [sys.executable, "-m", "dfd.lite", "classify",
         os.path.join(args.export, "model_int8.tflite"), image_path], 5)
    results["cold_start_s"]["dfd-lite int8 --kernels=xnnpack (no check)"] = cold_start(
        [sys.executable, "-m", "dfd.lite", "classify", "--kernels=xnnpack",
         os.path.join(args.export, "model_int8.tflite"), image_path], 5)
    results["cold_start_s"]["dfd-lite float32"] = cold_start(
        [sys.executable, "-m", "dfd.lite", "classify",
         os.path.join(args.export, "model_float32.tflite"), image_path], 5)
    results["cold_start_s"]["SavedModel script"] = cold_start(
        [sys.executable, "-c", SAVED_MODEL_COLD, os.path.join(args.export, "saved_model"),
         image_path], 3)
    for name, folder in named(args.parity):
        results["parity"] += parity_rows(name, folder)
    if args.venvs:
        results["venv_mb"] = venv_sizes(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))
    results["load_average_at_end"] = os.getloadavg()
    print(json.dumps(results, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
