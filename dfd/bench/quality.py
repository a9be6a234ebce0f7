"""Quality benchmark: recipes trained side by side on real face sets, reported on Test.

    python -m dfd.bench.quality --shared=../shared/data --out=runs/quality \
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

DEFAULT_RECIPES = ["seed_cnn:configs/seed_reproduction.flags", "dfdnet:configs/cpu_small.flags"]


def build_set(source: str, data_dir: str) -> None:
    """The set's TFDS build, once; later runs reuse it."""
    import tensorflow_datasets as tfds

    from builders.deepfake_real_images import Builder

    builder = Builder(data_dir=data_dir)
    if not builder.is_prepared():
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=source))


def train_examples(data_dir: str) -> int:
    from dfd import data
    return data.split_info(data_dir, "train")["num_examples"]


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


def row_for(set_name: str, recipe: str, workdir: str, wall: float, n_train: int) -> dict:
    from dfd import evaluate

    with open(os.path.join(workdir, "metrics.json")) as f:
        report = json.load(f)
    history = evaluate.read_history(workdir)
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
    }


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
    args = parser.parse_args(argv)
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
            print(markdown(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    with open(os.path.join(args.out, "quality.json"), "w") as f:
        json.dump({"epochs": args.epochs, "rows": rows}, f, indent=2)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
