"""Explain benchmark: milliseconds per explained crop, and batching against a loop.

    python -m benchmarks.explain --export=DIR [--image=JPEG] [--repeats=20] [--grid=8]
        [--batched_from=CHECKPOINT.keras] [--out=FILE.json]

For the float32 and int8 files of an export, at 1 thread and at all the cores this process
may use: one crop (the --image's, as `dfd-lite classify --explain` judges it) explained
--repeats times after two warm-up runs, with the runtime's default kernels (`auto`); the
median and p95 of `HeatMap.ms` (1 + grid^2 interpreter calls and the masked copies) and
the per-call share. --batched_from answers "would a batch be faster than the loop?": it
converts the checkpoint again with a dynamic batch dimension (dfd's own converter settings;
the shipped files take exactly one image), then scores the same masked copies as a loop of
single calls and as batches resized into one interpreter, and checks the answers agree.
That part needs TensorFlow; the rest runs on the device runtime alone. The results carry
the load average at start and end: on a shared machine, read ratios, not last digits.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np

from dfd.lite.detector import Detector
from dfd.lite.explain import GREY, Explainer, masked_copies
from dfd.lite.interpreter import default_threads, load_interpreter

PRECISIONS = ("float32", "int8")
BATCHES = (1, 8, 16, 65)


def summarize(times: list[float]) -> dict:
    return {"median_ms": round(statistics.median(times), 2),
            "p95_ms": round(float(np.percentile(times, 95)), 2),
            "min_ms": round(min(times), 2)}


def time_explain(paths: list[str], data: bytes, threads: list[int], grid: int,
                 repeats: int) -> list[dict]:
    """Each model at each thread count, rounds interleaved so that a busy moment on a
    shared machine hits every row alike."""
    runs = []
    for path in paths:
        for count in threads:
            explainer = Explainer(Detector(path, threads=count), grid)
            _, (heat, *_) = explainer.explain_bytes(data)
            explainer.explain(heat.pixels, heat.crop)  # warm-up
            runs.append((path, count, explainer, heat))
    times = [[] for _ in runs]
    for _ in range(repeats):
        for number, (_, _, explainer, heat) in enumerate(runs):
            times[number].append(explainer.explain(heat.pixels, heat.crop).ms)
    rows = []
    for (path, count, explainer, heat), row_times in zip(runs, times):
        row = summarize(row_times)
        rows.append({"model": os.path.basename(path), "threads": count, "grid": grid,
                     "calls": grid * grid + 1, **row,
                     "median_ms_per_call": round(row["median_ms"] / (grid * grid + 1), 3),
                     "kernels": explainer.detector.kernels, "p_fake": round(heat.p_fake, 4),
                     "max_drop": round(heat.max_drop, 4)})
    return rows


def dynamic_batch_tflite(checkpoint: str, image_size: int, precision: str,
                         calibration: np.ndarray) -> bytes:
    """The checkpoint as a .tflite taking any batch: dfd's converter settings, batch None."""
    from dfd.cli import quiet  # noqa: F401 - TensorFlow's C++ INFO lines off before it loads
    import keras

    import dfd.train.models  # noqa: F401 - registers dfd's layers and initializers for loading
    from dfd.export import tflite

    model = keras.models.load_model(checkpoint, compile=False)
    return tflite.convert(model, image_size, precision, lambda: iter(calibration), batch=None)


def score_in_batches(interpreter, copies: np.ndarray, batch: int) -> np.ndarray:
    """Raw outputs for every copy, `batch` at a time (the last batch padded)."""
    (inp,), out = interpreter.get_input_details(), interpreter.get_output_details()[0]
    answers = []
    for start in range(0, len(copies), batch):
        chunk = copies[start:start + batch]
        padded = np.concatenate([chunk, np.repeat(chunk[-1:], batch - len(chunk), 0)])
        interpreter.set_tensor(inp["index"], padded.astype(inp["dtype"]))
        interpreter.invoke()
        answers.append(interpreter.get_tensor(out["index"]).reshape(-1)[:len(chunk)].copy())
    return np.concatenate(answers)


def time_batches(checkpoint: str, pixels: np.ndarray, calibration: np.ndarray, grid: int,
                 threads: int, repeats: int) -> list[dict]:
    """Loop against batches on one interpreter per batch size, rounds interleaved so that a
    busy moment on a shared machine hits every batch size alike."""
    copies = np.concatenate([pixels[None], masked_copies(pixels, grid, GREY)])
    rows = []
    for precision in PRECISIONS:
        with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
            f.write(dynamic_batch_tflite(checkpoint, pixels.shape[0], precision, calibration))
            f.flush()
            interpreters = {}
            for batch in BATCHES:
                interpreter, _ = load_interpreter(f.name, threads, "xnnpack")
                if batch != 1:
                    index = interpreter.get_input_details()[0]["index"]
                    interpreter.resize_tensor_input(index, [batch, *pixels.shape], strict=True)
                    interpreter.allocate_tensors()
                interpreters[batch] = interpreter
            reference = score_in_batches(interpreters[1], copies, 1)
            times = {batch: [] for batch in BATCHES}
            for _ in range(repeats):
                for batch, interpreter in interpreters.items():
                    start = time.perf_counter()
                    score_in_batches(interpreter, copies, batch)
                    times[batch].append((time.perf_counter() - start) * 1000)
            for batch, interpreter in interpreters.items():
                differs = float(np.max(np.abs(
                    score_in_batches(interpreter, copies, batch).astype(np.float64)
                    - reference)))
                rows.append({"precision": precision, "threads": threads, "batch": batch,
                             "copies": len(copies), **summarize(times[batch]),
                             "largest_raw_difference_from_loop": differs})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--export", required=True, help="an export folder (model_*.tflite)")
    parser.add_argument("--image", help="the photo to explain (default: generated)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--grid", type=int, default=8)
    parser.add_argument("--batched_from", default=None,
                        help="the export's Keras checkpoint: also time batches (needs "
                             "TensorFlow)")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    if args.image:
        with open(args.image, "rb") as f:
            data = f.read()
    else:
        from benchmarks.serve_load import generated_images
        data = generated_images(1)[0]
    all_threads = default_threads()
    results = {"command": " ".join(sys.argv), "load_average_at_start": os.getloadavg(),
               "cpus_usable": all_threads, "explain": []}
    paths = [os.path.join(args.export, f"model_{precision}.tflite") for precision in PRECISIONS]
    for row in time_explain(paths, data, sorted({1, all_threads}), args.grid, args.repeats):
        results["explain"].append(row)
        print(json.dumps(row), flush=True)
    if args.batched_from:
        detector = Detector(os.path.join(args.export, "model_float32.tflite"))
        pixels = detector.pixels(data)
        golden = os.path.join(args.export, "golden_inputs.npy")
        calibration = np.load(golden) if os.path.exists(golden) else pixels[None]
        results["batches"] = []
        for threads in sorted({1, all_threads}):
            for row in time_batches(args.batched_from, pixels, calibration, args.grid,
                                    threads, args.repeats):
                results["batches"].append(row)
                print(json.dumps(row), flush=True)
    results["load_average_at_end"] = os.getloadavg()
    print(json.dumps({k: results[k] for k in ("load_average_at_start",
                                              "load_average_at_end", "cpus_usable")}))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
