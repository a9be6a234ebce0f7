"""Quality benchmark: recipes trained side by side on real face sets, reported on Test.

    python -m benchmarks.quality --shared=../shared/data --out=runs/quality \
        [--sets=rff160,celeba_stylegan] [--recipe=NAME:FLAGFILE[:FLAG...] ...] [--epochs=10]

For each set: `tfds build` once (kept in --out), then each recipe runs as the user runs
it (`python -m dfd.train --flagfile=...`) with the same --epochs budget. Checkpoints are
selected on Validation by the trainer (best validation AUC); the figures are the Test
split's from the run's metrics.json. Prints a Markdown table and writes quality.json.
Run it alone on the machine: train time is part of the result.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from dfd.cli import quiet

DEFAULT_RECIPES = ["seed_cnn:configs/seed_reproduction.flags", "dfdnet:configs/cpu_small.flags"]


def build_set(source: str, data_dir: str) -> None:
    """The set's TFDS build, once; later runs reuse it."""
    import tensorflow_datasets as tfds

    from dfd.builders.deepfake_real_images import Builder

    builder = Builder(data_dir=data_dir)
    if not builder.is_prepared():
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=source))


def train_examples(data_dir: str) -> int:
    from dfd.train import pipeline
    return pipeline.split_info(data_dir, "train")["num_examples"]


def run_recipe(flagfile: str, data_dir: str, workdir: str, epochs: int,
               extra: list[str]) -> float:
    """Trains (and evaluates) one recipe; returns the command's wall time in seconds."""
    command = [sys.executable, "-m", "dfd.train", f"--flagfile={flagfile}",
               f"--data_dir={data_dir}", f"--workdir={workdir}", f"--epochs={epochs}", *extra]
    start = time.perf_counter()
    with open(os.path.join(os.path.dirname(workdir), os.path.basename(workdir) + ".log"),
              "w") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return time.perf_counter() - start


def export_run(workdir: str) -> str:
    """`python -m dfd.export` as a user runs it, with the robustness suite on the device files.
    The int8 gate is lifted: the bench reports int8 figures, it does not judge them."""
    out = os.path.join(workdir, "export")
    if not os.path.exists(os.path.join(out, "robustness.json")):
        command = [sys.executable, "-m", "dfd.export", f"--workdir={workdir}", f"--out={out}",
                   "--robustness=full", "--int8_max_auc_drop=1", "--int8_max_flip_rate=1"]
        with open(workdir + ".export.log", "w") as log:
            subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return out


def int8_latency(export_dir: str, repeats: int = 300) -> dict:
    """Median ms per image of the int8 file at 1 thread, XNNPACK and builtin kernels."""
    import numpy as np

    from benchmarks.edge import time_tflite
    from dfd.lite.detector import Detector

    path = os.path.join(export_dir, "model_int8.tflite")
    size = Detector(path).image_size
    pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return {kernels: time_tflite(path, pixels, 1, kernels, repeats)["median_ms"]
            for kernels in ("xnnpack", "builtin")}


def device_figures(workdir: str) -> dict:
    out = export_run(workdir)
    with open(os.path.join(out, "parity.json")) as f:
        parity = json.load(f)
    with open(os.path.join(out, "robustness.json")) as f:
        robust = json.load(f)["tflite"]["int8"]
    with open(os.path.join(out, "model.json")) as f:
        card = json.load(f)
    latency = int8_latency(out)
    return {"int8_test_auc": parity["tflite"]["int8"]["auc"],
            "float_test_auc_saved_model": parity["saved_model"]["auc"],
            "int8_robust_mean_auc": robust["mean_auc"], "int8_robust_worst_auc": robust["worst_auc"],
            "int8_kb": round(card["artifacts"]["model_int8.tflite"]["bytes"] / 1024, 1),
            "int8_ms_xnnpack": latency["xnnpack"], "int8_ms_builtin": latency["builtin"]}


def row_for(set_name: str, recipe: str, workdir: str, wall: float, n_train: int) -> dict:
    from dfd.evaluate import run_folder

    with open(os.path.join(workdir, "metrics.json")) as f:
        report = json.load(f)
    robust = report.get("robustness", {})
    history = run_folder.read_history(workdir)
    seconds = [row["epoch_seconds"] for row in history if "epoch_seconds" in row]
    best = max(history, key=lambda row: row.get("val_auc", -1)) if history else {}
    test, validation = report["splits"]["test"], report["splits"]["validation"]
    return {
        "set": set_name, "recipe": recipe, "model": report["model"],
        "epochs_run": len(history), "best_epoch": int(best.get("epoch", -1)) + 1,
        "validation_auc": validation["auc"],
        "test_accuracy": test["accuracy"], "test_auc": test["auc"],
        "test_precision": test["precision"], "test_recall": test["recall"],
        "test_eer": test["eer"], "test_examples": test["examples"],
        "train_wall_s": round(wall, 1),
        "median_epoch_s": round(statistics.median(seconds), 2) if seconds else None,
        "train_images_per_s": round(n_train / statistics.median(seconds), 1) if seconds else None,
        **{f"{split}_robust_{k}_auc": robust.get(split, {}).get(f"{k}_auc")
           for split in ("validation", "test") for k in ("mean", "worst")},
        "test_worst_degradation": robust.get("test", {}).get("worst"),
    }


def _f(value, digits=4):
    return "-" if value is None else f"{value:.{digits}f}"


def robustness_markdown(rows: list[dict]) -> str:
    lines = ["| set | recipe | val AUC | val robust mean / worst | test AUC | "
             "test robust mean / worst (worst case) | int8 test AUC | int8 robust mean / worst "
             "| int8 ms XNNPACK / builtin | int8 KB | train wall |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(
            f"| {r['set']} | {r['recipe']} | {_f(r['validation_auc'])} | "
            f"{_f(r['validation_robust_mean_auc'])} / {_f(r['validation_robust_worst_auc'])} | "
            f"{_f(r['test_auc'])} | {_f(r['test_robust_mean_auc'])} / "
            f"{_f(r['test_robust_worst_auc'])} ({r['test_worst_degradation']}) | "
            f"{_f(r.get('int8_test_auc'))} | {_f(r.get('int8_robust_mean_auc'))} / "
            f"{_f(r.get('int8_robust_worst_auc'))} | {_f(r.get('int8_ms_xnnpack'), 2)} / "
            f"{_f(r.get('int8_ms_builtin'), 2)} | {r.get('int8_kb', '-')} | "
            f"{r['train_wall_s']:.0f} s |")
    return "\n".join(lines)


def markdown(rows: list[dict]) -> str:
    lines = ["| set | recipe | epochs (best) | val AUC | test acc | test AUC | precision | "
             "recall | train wall | images/s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(
            f"| {r['set']} | {r['recipe']} | {r['epochs_run']} ({r['best_epoch']}) | "
            f"{r['validation_auc']:.4f} | {r['test_accuracy']:.4f} | {r['test_auc']:.4f} | "
            f"{r['test_precision']:.4f} | {r['test_recall']:.4f} | {r['train_wall_s']:.0f} s | "
            f"{r['train_images_per_s']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", default="../shared/data", help="folder of the face sets")
    parser.add_argument("--sets", default="rff160,celeba_stylegan")
    parser.add_argument("--recipe", action="append", default=None,
                        help="NAME:FLAGFILE[:EXTRA_FLAG...], repeatable (default: the seed "
                             "recipe and dfd's cpu_small); e.g. x:configs/cpu_small.flags:"
                             "--image_size=160:--augment=flip,jpeg")
    parser.add_argument("--epochs", type=int, default=10, help="the same budget for every recipe")
    parser.add_argument("--out", default="runs/quality")
    parser.add_argument("--export", action="store_true",
                        help="also export each run and measure its int8 file through dfd.lite "
                             "(test AUC, robustness, latency at 1 thread, size)")
    args = parser.parse_args(argv)
    quiet.import_tensorflow()  # its C++ start-up lines held back, as dfd's binaries do
    rows = []
    for set_name in args.sets.split(","):
        source = os.path.join(args.shared, set_name)
        if not os.path.isdir(source):
            raise SystemExit(f"--shared: {source} does not exist")
        data_dir = os.path.abspath(os.path.join(args.out, set_name, "tfds"))
        build_set(source, data_dir)
        n_train = train_examples(data_dir)
        for spec in args.recipe or DEFAULT_RECIPES:
            name, flagfile, *extra_flags = spec.split(":")
            workdir = os.path.abspath(os.path.join(args.out, set_name, name))
            if os.path.exists(os.path.join(workdir, "metrics.json")):
                print(f"{set_name}/{name}: already done, reusing {workdir}", file=sys.stderr)
                wall = json.load(open(workdir + ".wall.json"))["wall_s"]
            else:
                wall = run_recipe(flagfile, data_dir, workdir, args.epochs, extra_flags)
                json.dump({"wall_s": wall}, open(workdir + ".wall.json", "w"))
            rows.append(row_for(set_name, name, workdir, wall, n_train))
            if args.export:
                rows[-1].update(device_figures(workdir))
            print(markdown(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    with open(os.path.join(args.out, "quality.json"), "w") as f:
        json.dump({"epochs": args.epochs, "rows": rows}, f, indent=2)
    print(markdown(rows))
    print()
    print(robustness_markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
