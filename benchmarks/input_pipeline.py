"""Benchmark: dfd's input pipeline against the seed's loader, per core, through tf.data
service, and each multi-worker worker's share of the decoding.

    python -m benchmarks.input_pipeline --source=../shared/data/celeba_stylegan/Dataset
    python -m benchmarks.input_pipeline --source=../shared/data/celeba_stylegan/Dataset \\
        --per_class=300 --num_shards=4 --measure=rates,sharding --sizes=128,256
    python -m benchmarks.input_pipeline --source=../shared/data/celeba_stylegan/Dataset \\
        --per_class=2000 --num_shards=4 --measure=service --service_sizes=128,256
    python -m benchmarks.input_pipeline --source=../shared/data/celeba_stylegan/Dataset \\
        --per_class=300 --measure=profile --sizes=128,256 --images=512,128 --repeats=3

Builds the TFDS dataset from --source (timing `tfds build`'s work: images/s; --per_class
builds only the first N files of each class folder of each split, --num_shards that many
files per split), or reads a built --data_dir. Then, by --measure:

- `table` (the default): two epochs of the train split through
  `dfd.train.pipeline.build_dataset` (cached, prefetched; without augmentation, with the
  default recipe's and with every augmentation) and through
  `keras.utils.image_dataset_from_directory` at the seed's settings (128x128, batch 64).
- `rates`: images/s of the cached epochs (the 2nd and later) of the training pipeline
  without augmentation and with the default recipe's, at each of --sizes, in a child
  process held to 1 core and to --max_cores cores (sched_setaffinity: TensorFlow sizes its
  thread pools from the cores it may run on). Per core = images/s / cores.
- `service`: images/s of the default training pipeline through tf.data service
  (`--data_service`, dfd.train.data_service), one dispatcher and 1, then 2, local worker
  processes, each worker held to its own core, the trainer's side in this process; every
  epoch is a new job, so it decodes again (the workers' memory cache lasts an epoch).
- `sharding`: what each of two multi-worker workers reads and decodes
  (`pipeline.read_split` with an InputContext, as dfd.train runs it under TF_CONFIG):
  examples, the TFRecord files they came from and the decode seconds, against one worker
  reading the whole split, which is what each worker did before issue 24
  (AutoShardPolicy.DATA: read and decode everything, keep 1/N).
- `profile`: where the augmentation's time goes. --images decoded train images held in
  memory at each of --sizes, then images/s on one tf.data thread (best of --repeats
  passes) without augmentation, with the batch ops (flip, crop) alone, with each per-image
  op of `dfd.train.augment` alone at probability 1 (blur, resize, jpeg, self_blend), and
  with the default recipe as --recipe (configs/cpu_small.flags) sets it, parsed by
  dfd.train's own flags. The images go through `pipeline.augment_images` and
  `pipeline.batched`, the training stages themselves, so a change there shows here.

With rates measured, the GPU boxes' core needs are printed (`estimate_cores`). Prints
Markdown tables for BUILD_NOTES.md. Run it alone: two cores make any concurrent work show up
in every figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

from dfd.cli import quiet

GPU_IMAGES_PER_S_256 = 14_000
"""dfdnet training at 256 px on one H200 (FINDINGS.md; measured outside this repo with
dfd's models.py)."""
TARGETS = {128: 1500, 256: 600}
"""Issue 24's targets: images/s per core with the default augmentation."""
MEASURES = ("table", "rates", "service", "sharding", "profile")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_RECIPE = os.path.join(ROOT, "configs", "cpu_small.flags")
"""The default recipe's flagfile (`python -m dfd.train --flagfile=configs/cpu_small.flags`)."""


def subset(source: str, per_class: int, out: str) -> str:
    """A Kaggle-layout folder of symlinks to the first `per_class` files (sorted) of each
    class folder of each split of `source`."""
    root = os.path.join(out, "Dataset")
    for split in sorted(os.listdir(source)):
        for cls in sorted(os.listdir(os.path.join(source, split))):
            folder = os.path.join(source, split, cls)
            if not os.path.isdir(folder):
                continue
            os.makedirs(os.path.join(root, split, cls))
            for name in sorted(os.listdir(folder))[:per_class]:
                os.symlink(os.path.abspath(os.path.join(folder, name)),
                           os.path.join(root, split, cls, name))
    return root


def build(source: str, data_dir: str, num_shards: int | None = None) -> tuple[float, int]:
    import tensorflow_datasets as tfds

    from dfd.builders.deepfake_real_images import Builder
    builder = Builder(data_dir=data_dir)
    start = time.perf_counter()
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=source, num_shards=num_shards))
    seconds = time.perf_counter() - start
    return seconds, sum(s.num_examples for s in builder.info.splits.values())


def time_epochs(ds, epochs: int) -> list[tuple[float, int]]:
    results = []
    for _ in range(epochs):
        start, count = time.perf_counter(), 0
        for images, _ in ds:
            count += int(images.shape[0])
        results.append((time.perf_counter() - start, count))
    return results


def cached_rate(epochs: list[tuple[float, int]]) -> float:
    """images/s over the epochs after the first (the first fills the cache)."""
    later = epochs[1:]
    return sum(count for _, count in later) / sum(seconds for seconds, _ in later)


def table(args, data_dir: str, rows: list) -> None:
    from dfd.train import pipeline

    # Without augmentation it does the seed loader's job (decode, resize, batch); with the
    # default recipe's training augmentation (what `python -m dfd.train` runs) it does more,
    # and with every augmentation (self_blend too) more again: all three are reported.
    for label, augment in (
            ("no augmentation", ()),
            ("default augmentation " + ",".join(pipeline.DEFAULT_AUGMENT),
             pipeline.DEFAULT_AUGMENT),
            ("every augmentation " + ",".join(pipeline.AUGMENTATIONS), pipeline.AUGMENTATIONS)):
        cfg = pipeline.PipelineConfig(image_size=args.image_size, batch_size=args.batch_size,
                                      augment=augment)
        ds = pipeline.build_dataset(data_dir, "train", cfg, training=True)
        for epoch, (seconds, count) in enumerate(time_epochs(ds, args.epochs), 1):
            rows.append((f"dfd pipeline, {label}, epoch {epoch}",
                         f"{count} images in {seconds:.2f} s", f"{count / seconds:.0f}"))
    if args.source and not args.skip_seed_loader:
        import keras
        seed_ds = keras.utils.image_dataset_from_directory(
            os.path.join(args.source, "Train"), image_size=(128, 128), batch_size=64,
            label_mode="binary", verbose=False)
        for epoch, (seconds, count) in enumerate(time_epochs(seed_ds, args.epochs), 1):
            rows.append((f"seed loader (image_dataset_from_directory), epoch {epoch}",
                         f"{count} images in {seconds:.2f} s", f"{count / seconds:.0f}"))


def child_rate(data_dir: str, size: int, batch_size: int, epochs: int) -> dict:
    """The `rates` measurement inside one process (the parent sets its cores)."""
    from dfd.train import pipeline

    result = {"cores": len(os.sched_getaffinity(0)), "size": size}
    for name, augment in (("none", ()), ("default", pipeline.DEFAULT_AUGMENT)):
        cfg = pipeline.PipelineConfig(image_size=size, batch_size=batch_size, augment=augment)
        ds = pipeline.build_dataset(data_dir, "train", cfg, training=True)
        timed = time_epochs(ds, epochs)
        result[name] = {"first_epoch": timed[0][1] / timed[0][0], "cached": cached_rate(timed),
                        "images": timed[0][1]}
    return result


def in_child(cores: set[int], argv: list[str]) -> dict:
    """Runs this module with `argv` on `cores` only; its last stdout line is JSON."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.input_pipeline", *argv],
                         preexec_fn=lambda: os.sched_setaffinity(0, cores),
                         capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"child {argv} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def rates(args, data_dir: str) -> list[dict]:
    available = sorted(os.sched_getaffinity(0))
    results = []
    for size in args.sizes:
        for count in sorted({1, min(args.max_cores, len(available))}):
            results.append(in_child(set(available[:count]), [
                "--child_rate", f"--data_dir={data_dir}", f"--image_size={size}",
                f"--batch_size={args.batch_size}", f"--epochs={max(args.epochs, 3)}"]))
    return results


def estimate_cores(per_core: float, gpus: int,
                   gpu_rate: float = GPU_IMAGES_PER_S_256) -> dict:
    """Cores an input pipeline running at `per_core` images/s per core needs to feed `gpus`
    GPUs each training at `gpu_rate` images/s (linear in cores: the assumption to check)."""
    need = gpus * gpu_rate
    return {"gpus": gpus, "images_per_s": need, "per_core": per_core,
            "cores": math.ceil(need / per_core)}


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(argv: list[str], **popen_args) -> subprocess.Popen:
    """A dispatcher or worker whose stderr goes to an unnamed file, not a pipe: nobody reads a
    pipe while the benchmark runs, and a server that logged more than its 64 KiB buffer would
    block mid-measurement. The file is kept (`process.log`) for the reason when it dies."""
    import tempfile
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log, text=True,
                               **popen_args)
    process.log = log
    return process


def server_log(process: subprocess.Popen, limit: int = 2000) -> str:
    process.log.seek(0)
    return process.log.read()[-limit:]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 120) -> None:
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {server_log(process)}")
        try:
            socket.create_connection(("localhost", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def service(args, data_dir: str) -> list[dict]:
    """Images/s through a dispatcher and 1..max_cores local workers, worker i on core i."""
    from dfd.train import pipeline

    available = sorted(os.sched_getaffinity(0))
    results = []
    for workers in sorted({1, min(args.max_cores, len(available))}):
        ports = [free_port() for _ in range(workers)]
        port = free_port()
        command = [sys.executable, "-m", "dfd.train.data_service"]
        servers = [start_server(
            [*command, "dispatcher", f"--port={port}",
             "--workers=" + ",".join(f"localhost:{p}" for p in ports)])]
        try:
            wait_for_port(port, servers[0])
            for index, worker_port in enumerate(ports):
                core = {available[index % len(available)]}
                servers.append(start_server(
                    [*command, "worker", f"--port={worker_port}",
                     f"--dispatcher=localhost:{port}"],
                    preexec_fn=lambda core=core: os.sched_setaffinity(0, core)))
                wait_for_port(worker_port, servers[-1])
            for size in args.sizes[:1] if args.service_sizes is None else args.service_sizes:
                cfg = pipeline.PipelineConfig(image_size=size, batch_size=args.batch_size,
                                              data_service=f"grpc://localhost:{port}")
                ds = pipeline.build_dataset(data_dir, "train", cfg, training=True)
                timed = time_epochs(ds, args.epochs)
                results.append({"workers": workers, "size": size, "images": timed[0][1],
                                "epochs": [count / seconds for seconds, count in timed],
                                "rate": sum(c for _, c in timed) / sum(s for s, _ in timed)})
        finally:
            for server in reversed(servers):
                server.terminate()
            for server in servers:
                try:
                    server.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
                server.log.close()
    return results


def sharding(args, data_dir: str, workers: int = 2) -> list[dict]:
    """Each of `workers` multi-worker workers' share: examples, files, decode seconds;
    row `workers=1` is one worker reading everything (every worker's load before)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from dfd.train import pipeline

    found = pipeline.builder(data_dir)
    # Which file each example is stored in, from TFDS's own ids (file name + index).
    ids = found.as_dataset(split="train", read_config=tfds.ReadConfig(add_tfds_id=True),
                           decoders={"image": tfds.decode.SkipDecoding()})
    file_of = {}  # (label, file name): the TFRecord file
    for example in ids.as_numpy_iterator():
        key = (int(example["label"]), example["file_name"])
        file_of[key] = example["tfds_id"].decode().rsplit("__", 1)[0]
    size = args.sizes[0]

    def decode(example):
        image = pipeline.preprocess_image(pipeline.decode(example["image"]), size)
        return image, example["label"], example["file_name"]

    rows = []
    for count in (1, workers):
        for index in range(count):
            context = None if count == 1 else tf.distribute.InputContext(
                num_input_pipelines=count, input_pipeline_id=index)
            ds = pipeline.read_split(found, "train", training=False, seed=0,
                                     input_context=context)
            ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
            start = time.perf_counter()
            names = [(int(label), name) for _, label, name in ds.as_numpy_iterator()]
            seconds = time.perf_counter() - start
            rows.append({"workers": count, "worker": index, "examples": len(names),
                         "distinct": len(set(names)),
                         "files": sorted({file_of[n] for n in names}), "seconds": seconds,
                         "split_examples": len(file_of),
                         "split_files": found.info.splits["train"].num_shards})
    return rows


def recipe_config(flagfile: str):
    """The PipelineConfig `python -m dfd.train --flagfile=FLAGFILE` trains with: the flagfile
    parsed by the trainer's own flags and turned into a config by its own `pipeline_config`,
    so the profile's default recipe is what training runs, not a copy of its numbers.
    absl's flags are back at their defaults afterwards, and so is the level of absl's
    logger, which setting --verbosity's default moves to WARNING (an in-process caller's INFO
    lines, a test's caplog among them, would vanish)."""
    import logging

    from absl import flags

    from dfd.train import __main__ as trainer_binary
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    try:
        flags.FLAGS(["dfd.train", f"--flagfile={flagfile}"])
        return trainer_binary.pipeline_config()
    finally:
        flags.FLAGS.unparse_flags()
        absl_logger.setLevel(level)


def profile_variants(recipe) -> list[tuple[str, str, object]]:
    """(key, label, PipelineConfig) of every profiled variant, at the recipe's batch size and
    strengths: none, the batch ops alone, each per-image op alone at probability 1, the
    recipe itself. The per-image ops are `dfd.train.augment`'s own list, so an op added
    there is profiled too."""
    from dfd.train import augment, pipeline

    recipe = dataclasses.replace(recipe, data_service=None)
    per_image_ops = augment.DEGRADATIONS + (augment.SELF_BLEND,)
    batch_ops = tuple(n for n in pipeline.AUGMENTATIONS if n not in per_image_ops)
    always = dataclasses.replace(recipe.augmentation, probability=1.0,
                                 self_blend_probability=1.0)
    variants = [("none", "no augmentation", dataclasses.replace(recipe, augment=())),
                ("batch", f"{','.join(batch_ops)} (batch ops) alone",
                 dataclasses.replace(recipe, augment=batch_ops))]
    for name in per_image_ops:
        label = f"{name} alone, p=1" + (" (real images only)" if name == augment.SELF_BLEND
                                        else "")
        variants.append((name, label, dataclasses.replace(recipe, augment=(name,),
                                                          augmentation=always)))
    a = recipe.augmentation
    variants.append(("default", f"default recipe ({','.join(recipe.augment)}, "
                                f"p={a.probability:g}, sigma<={a.blur_sigma[1]:g}, "
                                f"scale>={a.resize_scale[0]:g}, q>={a.jpeg_quality[0]})",
                     recipe))
    return variants


def cached_images(data_dir: str, size: int, count: int):
    """`count` train images (cycling through the split if it has fewer) decoded and
    preprocessed to `size` by the pipeline, in file order, as numpy (images, labels): the
    profile's input, held in memory so that decoding is out of every figure."""
    import numpy as np

    from dfd.train import pipeline

    if not pipeline.split_info(data_dir, "train")["num_examples"]:
        raise ValueError(f"the train split of {data_dir} is empty")
    cfg = pipeline.PipelineConfig(image_size=size, augment=(), cache="none")
    ds = pipeline.examples(data_dir, "train", cfg, training=False).repeat().take(count)
    images, labels = zip(*ds.as_numpy_iterator())
    return np.stack(images), np.stack(labels)


def one_thread(ds):
    """`ds` on a private tf.data threadpool of one thread, each op on one thread too."""
    import tensorflow as tf

    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.threading.max_intra_op_parallelism = 1
    return ds.with_options(options)


def variant_dataset(images, labels, config):
    """Training batches of the held images through `config`'s augmentation: the per-image
    stage and the batch stage of the training pipeline (no shuffle: it is not
    augmentation), on one thread."""
    import tensorflow as tf

    from dfd.train import pipeline

    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    ds = pipeline.batched(pipeline.augment_images(ds, config), config, training=True)
    return one_thread(ds)


def profile(args, data_dir: str) -> dict:
    """The recipe, each variant's label and, under "sizes", per size the images held, how
    many are real (self_blend changes only those) and each variant's images/s, best of
    --repeats passes: the first pass also traces the functions, so figures need 2 or more."""
    variants = profile_variants(recipe_config(args.recipe))
    results = {"recipe": os.path.relpath(args.recipe, ROOT), "repeats": args.repeats,
               "batch_size": variants[0][2].batch_size,
               "labels": {key: label for key, label, _ in variants}, "sizes": {}}
    for size, count in zip(args.sizes, args.images):
        images, labels = cached_images(data_dir, size, count)
        rates = {}
        for key, _, config in variants:
            ds = variant_dataset(images, labels, dataclasses.replace(config, image_size=size))
            rates[key] = max(n / seconds for seconds, n in time_epochs(ds, args.repeats))
        results["sizes"][size] = {"images": count, "real": int((labels < 0.5).sum()),
                                  "rates": rates}
    return results


def print_profile(results: dict) -> None:
    """The Markdown table (a row a variant, a column a size), then the results as one JSON
    line."""
    sizes = results["sizes"]
    print(f"\n| images/s, 1 tf.data thread, best of {results['repeats']}, batch "
          f"{results['batch_size']} | "
          + " | ".join(f"{size} px ({r['images']} images, {r['real']} real)"
                       for size, r in sizes.items())
          + " |\n| --- |" + " --- |" * len(sizes))
    for key, label in results["labels"].items():
        print(f"| {label} | " + " | ".join(f"{r['rates'][key]:,.0f}" for r in sizes.values())
              + " |")
    print(json.dumps({"measure": "profile", **results}))


def print_rates(results: list[dict]) -> None:
    print("\n| image size | cores | augmentation | first epoch images/s | cached images/s "
          "| cached per core | target per core |\n| --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        for name in ("none", "default"):
            figures = r[name]
            target = TARGETS.get(r["size"]) if name == "default" else None
            verdict = "" if target is None else (
                f"{target} ({'met' if figures['cached'] / r['cores'] >= target else 'missed'})")
            print(f"| {r['size']} | {r['cores']} | {name} | {figures['first_epoch']:.0f} | "
                  f"{figures['cached']:.0f} | {figures['cached'] / r['cores']:.0f} | "
                  f"{verdict} |")


def print_estimate(results: list[dict]) -> None:
    """The cores a 1-GPU and an 8-GPU box need at 256 px, from each measured core count's
    per-core rate (default augmentation, cached)."""
    for r in sorted((r for r in results if r["size"] == 256), key=lambda r: r["cores"]):
        per_core = r["default"]["cached"] / r["cores"]
        print(f"\nCores to feed dfdnet at 256 px ({GPU_IMAGES_PER_S_256} images/s per GPU, "
              f"FINDINGS.md) at {per_core:.0f} images/s per core (measured on "
              f"{r['cores']} core(s), default augmentation, cached):")
        for gpus in (1, 8):
            e = estimate_cores(per_core, gpus)
            print(f"- {gpus} GPU(s): {gpus} x {GPU_IMAGES_PER_S_256} = {e['images_per_s']} "
                  f"images/s / {per_core:.0f} per core = {e['cores']} cores")


# Epochs of 600 images through the service took whole seconds plus ~0.03 s (2.03, 3.03, 4.03 s;
# session 15): the service's own scheduling steps, not decoding, set so short an epoch.
SHORTEST_SERVICE_EPOCH_S = 10.0


def shortest_epoch_seconds(results: list[dict]) -> float:
    """The shortest service epoch, in seconds, of every row (images over images/s)."""
    return min(r["images"] / rate for r in results for rate in r["epochs"])


def print_service(results: list[dict]) -> None:
    print("\n| workers (1 core each) | image size | images per epoch | images/s per epoch "
          "| images/s |\n| --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['workers']} | {r['size']} | {r['images']} | "
              f"{', '.join(f'{x:.0f}' for x in r['epochs'])} | {r['rate']:.0f} |")
    for size in sorted({r["size"] for r in results}):
        by = {r["workers"]: r["rate"] for r in results if r["size"] == size}
        if 1 in by and len(by) > 1:
            most = max(by)
            print(f"\n{size} px: {most} workers / 1 = {by[most] / by[1]:.2f}x")
    if results and shortest_epoch_seconds(results) < SHORTEST_SERVICE_EPOCH_S:
        print(f"\nwarning: the shortest epoch took {shortest_epoch_seconds(results):.1f} s; "
              f"epochs under {SHORTEST_SERVICE_EPOCH_S:.0f} s through tf.data service end on "
              "its scheduling steps (about a second each), so these rates are not the "
              "workers': use a larger --per_class")


def print_sharding(rows: list[dict]) -> None:
    print("\n| reader | examples decoded | distinct | files read | decode s |\n"
          "| --- | --- | --- | --- | --- |")
    for r in rows:
        who = ("one worker, the whole split (each worker before)" if r["workers"] == 1
               else f"worker {r['worker']} of {r['workers']}")
        print(f"| {who} | {r['examples']} of {r['split_examples']} | {r['distinct']} | "
              f"{len(r['files'])} of {r['split_files']} ({', '.join(r['files'])}) | "
              f"{r['seconds']:.2f} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", help="Kaggle-layout Dataset/ folder (builds it first)")
    parser.add_argument("--data_dir", help="an already built TFDS data dir (skips the build)")
    parser.add_argument("--per_class", type=int,
                        help="with --source: build only the first N files of each class "
                             "folder of each split")
    parser.add_argument("--num_shards", type=int, help="with --source: files per split")
    parser.add_argument("--measure", default="table",
                        help=f"comma-separated, any of {', '.join(MEASURES)}")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--image_size", type=int, default=128, help="the table's size")
    parser.add_argument("--sizes", default="128,256",
                        help="image sizes of rates and profile (and of service and "
                             "sharding: the first)")
    parser.add_argument("--images", default="512",
                        help="profile: train images held at each of --sizes (one count, or "
                             "one per size)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="profile: passes over the images per variant; the best counts")
    parser.add_argument("--recipe", default=DEFAULT_RECIPE,
                        help="profile: the dfd.train flagfile whose augmentation is the "
                             "default recipe's row")
    parser.add_argument("--service_sizes", default=None,
                        help="image sizes of the service runs (default: the first of --sizes)")
    parser.add_argument("--max_cores", type=int, default=2,
                        help="rates: 1 core and this many; service: 1 worker and this many")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--skip_seed_loader", action="store_true")
    parser.add_argument("--child_rate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quiet.import_tensorflow()  # its C++ start-up lines held back, as dfd's binaries do
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.images = [int(n) for n in args.images.split(",")]
    if len(args.images) == 1:
        args.images *= len(args.sizes)
    if len(args.images) != len(args.sizes) or min(args.images) < 1 or args.repeats < 1:
        parser.error("--images: one count >= 1, or one per --sizes; --repeats: >= 1")
    if args.service_sizes:
        args.service_sizes = [int(s) for s in args.service_sizes.split(",")]
    measures = args.measure.split(",")
    if set(measures) - set(MEASURES):
        parser.error(f"--measure: choose from {', '.join(MEASURES)}")
    if not args.source and not args.data_dir:
        parser.error("give --source or --data_dir")
    if args.child_rate:
        print(json.dumps(child_rate(args.data_dir, args.image_size, args.batch_size,
                                    args.epochs)))
        return
    rows = []
    data_dir = args.data_dir
    work = None
    if not data_dir:
        work = tempfile.mkdtemp(prefix="dfd-bench-")
        source = args.source
        if args.per_class:
            source = subset(args.source, args.per_class, os.path.join(work, "source"))
        data_dir = os.path.join(work, "tfds")
        seconds, count = build(source, data_dir, args.num_shards)
        rows.append(("`tfds build` (all splits)", f"{count} images in {seconds:.1f} s",
                     f"{count / seconds:.0f}"))
    print("load average at the start: %.2f %.2f %.2f" % os.getloadavg())
    try:
        if "table" in measures:
            table(args, data_dir, rows)
        if rows:
            print(f"\n| what | work | images/s |\n| --- | --- | --- |")
            for row in rows:
                print(f"| {row[0]} | {row[1]} | {row[2]} |")
        if "sharding" in measures:
            print_sharding(sharding(args, data_dir))
        if "rates" in measures:
            measured = rates(args, data_dir)
            print_rates(measured)
            print_estimate(measured)
        if "service" in measures:
            print_service(service(args, data_dir))
        if "profile" in measures:
            print_profile(profile(args, data_dir))
        print("\nload average at the end: %.2f %.2f %.2f" % os.getloadavg())
        sys.stdout.flush()
    finally:
        if work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
