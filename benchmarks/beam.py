"""Benchmark: the dataset build and batch scoring, in one process and on Beam's DirectRunner.

    python -m benchmarks.beam --source=../shared/data/celeba_stylegan/Dataset \\
        --model=runs/quality/celeba_stylegan/dfdnet/export/model_int8.tflite --out=runs/beam

Runs every job as a user runs it (a fresh process, the commands the README gives) on the
whole source, and again on a start-up source of one image per split and class folder:
that run's wall time is the job's fixed cost (interpreter and framework imports, pipeline
construction, worker processes, writing metadata), and images/s after start-up is
(images) / (wall time - fixed cost). Jobs: `tfds build` plain and on Beam with 1 and 2
worker processes; `dfd-lite classify` (all cores, and 1 thread) and `dfd-score` with 1 and
2 worker processes. Prints a Markdown table and a 10-million-image estimate from the
measured per-worker rates, and writes both with the raw figures to OUT/beam_bench.json.
Run it alone on the machine: every concurrent process shows up in every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import dfd.builders.deepfake_real_images as builder_package
from dfd.builders.deepfake_real_images import source_files

BEAM_WORKERS = "runner=DirectRunner,direct_num_workers={n},direct_running_mode=multi_processing"
ESTIMATE_IMAGES = 10_000_000
ESTIMATE_HOURS = 1.0


def count_images(dataset: str) -> int:
    return sum(len(files) for _, _, files in os.walk(dataset))


def startup_source(dataset: str, folder: str) -> int:
    """A Kaggle folder holding the first file of every split and class folder."""
    count = 0
    for split in source_files.SPLIT_FOLDERS.values():
        for cls in source_files.CLASS_FOLDERS.values():
            src = os.path.join(dataset, split, cls)
            if not os.path.isdir(src) or not os.listdir(src):
                continue
            os.makedirs(os.path.join(folder, "Dataset", split, cls))
            name = sorted(os.listdir(src))[0]
            shutil.copy(os.path.join(src, name), os.path.join(folder, "Dataset", split, cls))
            count += 1
    return count


def timed(command: list[str], ok_codes=(0,)) -> dict:
    """Wall and CPU seconds (the process and its children) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode not in ok_codes:
        raise SystemExit(f"{' '.join(command)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "stdout": out.stdout}


def build_job(workers: int | None):
    builder_dir = os.path.dirname(builder_package.__file__)

    def command(source: str, work: str) -> list[str]:
        args = [sys.executable, "-m", "tensorflow_datasets.scripts.cli.main", "build",
                builder_dir, f"--manual_dir={source}", f"--data_dir={work}/tfds"]
        if workers:
            args.append(f"--beam_pipeline_options={BEAM_WORKERS.format(n=workers)}")
        return args
    return command


def lite_job(model: str, threads: int | None):
    def command(source: str, work: str) -> list[str]:
        args = [sys.executable, "-m", "dfd.lite", "classify", model, source]
        return args + ([f"--threads={threads}"] if threads else [])
    return command


def score_job(model: str, workers: int):
    def command(source: str, work: str) -> list[str]:
        return [sys.executable, "-m", "dfd.score", f"--model={model}", f"--input={source}/**",
                f"--output={work}/scores", *[f"--{o}" for o in
                                             BEAM_WORKERS.format(n=workers).split(",")]]
    return command


def answered(job: str, result: dict, work: str) -> int:
    """Images the job reports (a check that every job did the whole source)."""
    if job.startswith("dfd-lite"):
        return len(result["stdout"].splitlines())
    if job.startswith("dfd-score"):
        return sum(1 for name in os.listdir(work) if name.startswith("scores")
                   for _ in open(os.path.join(work, name)))
    with open(os.path.join(work, "tfds", "deepfake_real_images",
                           str(builder_package.Builder.VERSION), "metadata.json")) as f:
        return sum(s["files"] for s in json.load(f)["splits"].values())


def run_job(name: str, command, source: str, images: int) -> dict:
    work = tempfile.mkdtemp(prefix="dfd-bench-beam-")
    try:
        result = timed(command(source, work), ok_codes=(0, 1))
        done = answered(name, result, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if done != images:
        raise SystemExit(f"{name} answered {done} of {images} images")
    return {"wall_s": round(result["wall_s"], 2), "cpu_s": round(result["cpu_s"], 2)}


def estimate(rows: dict, images: int) -> list[str]:
    """Worker count and wall time for 10M images from the measured per-worker rate."""
    lines = []
    for job, single, double in (("tfds build on Beam", "tfds build, Beam 1 worker",
                                 "tfds build, Beam 2 workers"),
                                ("dfd-score", "dfd-score, 1 worker", "dfd-score, 2 workers")):
        rate = rows[single]["images_per_s_after_startup"]
        if not rate or not rows[double]["images_per_s_after_startup"]:
            lines.append(f"- {job}: no estimate from wall time, a start-up run took as long "
                         f"as its whole run")
        else:
            scaling = rows[double]["images_per_s_after_startup"] / rate
            per_worker = rate * min(1.0, scaling / 2)
            workers = math.ceil(ESTIMATE_IMAGES / (per_worker * ESTIMATE_HOURS * 3600))
            hours = ESTIMATE_IMAGES / per_worker / 3600
            lines.append(
                f"- {job}, from wall time: {rate:.0f} images/s on 1 worker, x{scaling:.2f} on "
                f"2; taking {per_worker:.0f} images/s per worker (1-worker rate times the "
                f"measured 2-worker efficiency), {ESTIMATE_IMAGES:,} images need {hours:.0f} "
                f"worker-hours: about {workers} single-core workers for {ESTIMATE_HOURS:.0f} h "
                f"of processing, plus the runner's own start-up (minutes on a cluster, not "
                f"measured).")
        per_core = images / rows[single]["cpu_s"]
        core_hours = ESTIMATE_IMAGES / per_core / 3600
        lines.append(
            f"- {job}, from CPU time (what a dedicated core would do; start-up included): "
            f"{per_core:.0f} images per CPU second, {core_hours:.0f} core-hours: about "
            f"{math.ceil(core_hours / ESTIMATE_HOURS)} single-core workers for "
            f"{ESTIMATE_HOURS:.0f} h.")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="Kaggle-layout Dataset/ folder")
    parser.add_argument("--model", required=True, help="an exported .tflite (model.json beside)")
    parser.add_argument("--out", required=True, help="folder for beam_bench.json")
    args = parser.parse_args(argv)
    source = os.path.abspath(args.source)
    parent = os.path.dirname(source)  # the builder takes the folder holding Dataset/
    images = count_images(source)
    tiny_parent = tempfile.mkdtemp(prefix="dfd-bench-startup-")
    tiny_images = startup_source(source, tiny_parent)
    jobs = [
        ("tfds build, plain", build_job(None), True),
        ("tfds build, Beam 1 worker", build_job(1), True),
        ("tfds build, Beam 2 workers", build_job(2), True),
        ("dfd-lite classify, all cores", lite_job(args.model, None), False),
        ("dfd-lite classify, 1 thread", lite_job(args.model, 1), False),
        ("dfd-score, 1 worker", score_job(args.model, 1), False),
        ("dfd-score, 2 workers", score_job(args.model, 2), False),
    ]
    rows = {}
    for name, command, takes_parent in jobs:
        full = parent if takes_parent else source
        tiny = tiny_parent if takes_parent else os.path.join(tiny_parent, "Dataset")
        start_up = run_job(name, command, tiny, tiny_images)
        whole = run_job(name, command, full, images)
        net = whole["wall_s"] - start_up["wall_s"]
        rows[name] = {"images": images, "wall_s": whole["wall_s"], "cpu_s": whole["cpu_s"],
                      "startup_wall_s": start_up["wall_s"],
                      "images_per_s": round(images / whole["wall_s"], 1),
                      # None: the start-up run took as long as the whole one (noise or a
                      # source too small to tell the two apart)
                      "images_per_s_after_startup": round(images / net, 1) if net > 0 else None}
        print(f"{name}: {rows[name]}", file=sys.stderr, flush=True)
    shutil.rmtree(tiny_parent, ignore_errors=True)
    table = ["| job | wall s | CPU s | start-up s | images/s | images/s after start-up |",
             "| --- | --- | --- | --- | --- | --- |"]
    table += [f"| {name} | {r['wall_s']} | {r['cpu_s']} | {r['startup_wall_s']} | "
              f"{r['images_per_s']} | {r['images_per_s_after_startup']} |"
              for name, r in rows.items()]
    lines = estimate(rows, images)
    print("\n".join([f"{images} images of {source}, model {args.model}", *table, "",
                     "Estimate (from the rates above):", *lines]))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "beam_bench.json"), "w") as f:
        json.dump({"source": source, "model": os.path.abspath(args.model), "images": images,
                   "startup_images": tiny_images, "rows": rows, "estimate": lines}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
