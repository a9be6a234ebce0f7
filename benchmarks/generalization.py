"""Leave one family out: how well a recipe carries over to a kind of fake it never saw.

    python -m benchmarks.generalization --shared=../shared/data --out=runs/lofo \
        --recipe=NAME:FLAGFILE[:FLAG...] [--recipe=...] [--epochs=5] \
        [--families=dfdc_faces,celeba_stylegan,rff160] [--skip_all]

Device students on the same protocol (issue 23), each distilled from the teacher trained on
the same two families:

    python -m benchmarks.generalization --recipe=default:configs/cpu_small.flags \
        --recipe=distilled:configs/edge_student.flags:--teacher=@default \
        --recipe=labels:configs/edge_student.flags

For each recipe and each family F of {face swaps, GAN faces, local edits}: train on the other
two (`python -m dfd.train --data_dir=A,B`, equal weight per source), judge the run on F with
`python -m dfd.evaluate --data_dir=F` (the Keras model, float) and with the run's int8 file
through dfd.lite as a device runs it (`python -m dfd.export`, then dfd.lite's Detector on F's
decoded images and the preprocessing contract; whole images, no face search). Then train on
all three and judge each. Every figure is given on Validation (to select recipes on) and
Test (to report; never to tune on), and the false-positive rate on the real images at the
model card's threshold (0.5). Prints one Markdown table and writes generalization.json.

This is dfd's own proxy for the sources and generators it does not have. The validation
splits hold 288-1,060 images: an AUC moves by a few hundredths between seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from dfd.cli import quiet

FAMILIES = ("dfdc_faces", "celeba_stylegan", "rff160")
"""Face swaps, GAN faces, local Photoshop edits (../shared/data/README.md)."""
SPLITS = ("validation", "test")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def built(shared: str, out: str, family: str) -> str:
    """The family's TFDS data dir, built once under --out/data/FAMILY (so the source is named
    after the family)."""
    from benchmarks.quality import build_set

    source = os.path.join(shared, family)
    if not os.path.isdir(source):
        raise SystemExit(f"--shared: {source} does not exist")
    data_dir = os.path.abspath(os.path.join(out, "data", family))
    build_set(source, data_dir)
    return data_dir


def run(command: list[str], log: str) -> float:
    """A dfd command as a user runs it, its output in `log`; returns its wall time."""
    start = time.perf_counter()
    with open(log, "a") as f:
        f.write(" ".join(command) + "\n")
        f.flush()
        subprocess.run(command, check=True, stdout=f, stderr=subprocess.STDOUT, env=ENV)
    return time.perf_counter() - start


def train(flagfile: str, extra: list[str], data_dirs: list[str], workdir: str,
          epochs: int, robustness: bool) -> float:
    """Trains one run (reused when it finished before); `robustness` runs the full suite on
    every source's test split in the closing report."""
    if os.path.exists(os.path.join(workdir, "metrics.json")):
        with open(workdir + ".wall.json") as f:
            return json.load(f)["wall_s"]
    wall = run([sys.executable, "-m", "dfd.train", f"--flagfile={flagfile}",
                f"--data_dir={','.join(data_dirs)}", f"--workdir={workdir}",
                f"--epochs={epochs}",
                *(["--robustness=full", "--robustness_splits=test"] if robustness
                  else ["--robustness=none"]), *extra], workdir + ".log")
    with open(workdir + ".wall.json", "w") as f:
        json.dump({"wall_s": wall}, f)
    return wall


def export(workdir: str) -> str:
    """The run's bundle; the int8 gate lifted (the bench reports int8, it does not judge)."""
    out = os.path.join(workdir, "export")
    if not os.path.exists(os.path.join(out, "model.json")):
        run([sys.executable, "-m", "dfd.export", f"--workdir={workdir}", f"--out={out}",
             "--robustness=none", "--face_detector=none", "--int8_max_auc_drop=1",
             "--int8_max_flip_rate=1"], workdir + ".log")
    return out


def float_figures(workdir: str, data_dir: str, family: str, trained: bool) -> dict:
    """{split: metrics} of the Keras model on one family (dfd.evaluate's per-source report)."""
    with open(os.path.join(workdir, "metrics.json")) as f:
        report = json.load(f)
    entry = report.get("sources", {}).get(family, {}).get("splits", {})
    if not all(split in entry for split in SPLITS):
        run([sys.executable, "-m", "dfd.evaluate", f"--workdir={workdir}",
             f"--data_dir={data_dir}", f"--source_names={family}",
             f"--split={','.join(SPLITS)}", "--robustness=none"], workdir + ".log")
        with open(os.path.join(workdir, "metrics.json")) as f:
            entry = json.load(f)["sources"][family]["splits"]
    return {split: entry[split] for split in SPLITS}


def int8_figures(bundle: str, data_dir: str, split: str) -> dict:
    """AUC, accuracy and false-positive rate at the card's threshold of the bundle's int8
    file on one family's split, through dfd.lite as a device runs it."""
    import numpy as np

    from dfd.common import metrics, preprocess
    from dfd.evaluate.report import source_images
    from dfd.lite.detector import Detector

    detector = Detector(os.path.join(bundle, "model_int8.tflite"))
    size = detector.image_size
    labels, scores = [], []
    for image, label in source_images(data_dir, "deepfake_real_images", split):
        labels.append(label)
        scores.append(detector.p_fake_pixels(preprocess.preprocess(np.asarray(image), size)))
    labels, scores = np.asarray(labels), np.asarray(scores, np.float64)
    called_fake = scores >= detector.threshold
    return {"auc": metrics.roc_auc(labels, scores), "examples": int(len(labels)),
            "accuracy": float(np.mean(called_fake == (labels == 1))),
            "fpr": float(np.mean(called_fake[labels == 0])), "threshold": detector.threshold}


def judge(workdir: str, data_dirs: dict, family: str, trained: bool) -> dict:
    bundle = export(workdir)
    row = {"family": family, "trained_on_it": trained}
    if trained:  # the closing report of a run trained with the robustness suite
        with open(os.path.join(workdir, "metrics.json")) as f:
            robust = json.load(f)["sources"][family].get("robustness", {}).get("test", {})
        row.update(test_robust_mean_auc=robust.get("mean_auc"),
                   test_robust_worst_auc=robust.get("worst_auc"))
    floats = float_figures(workdir, data_dirs[family], family, trained)
    for split in SPLITS:
        row[f"{split}_auc"] = floats[split]["auc"]
        int8 = int8_figures(bundle, data_dirs[family], split)
        row[f"{split}_int8_auc"] = int8["auc"]
        row[f"{split}_int8_fpr"] = int8["fpr"]
        row[f"{split}_int8_accuracy"] = int8["accuracy"]
    return row


def resolve_runs(extra: list[str], out: str, run_name: str) -> list[str]:
    """A recipe's extra flags with `@RECIPE` (as in `--teacher=@default`, or each of a list:
    `--teacher=@default,@blends`) replaced by that recipe's run folder for the same families,
    so a student is distilled from the teacher that saw what it sees and nothing of the
    family left out. The named recipe must come earlier in --recipe (its run is then
    finished)."""
    resolved = []
    for flag in extra:
        name, sep, value = flag.partition("=")
        if sep and "@" in value:  # a list flag may name several: --teacher=@a,@b
            parts = []
            for part in value.split(","):
                if part.startswith("@"):
                    workdir = os.path.abspath(os.path.join(out, part[1:], run_name))
                    if not os.path.exists(os.path.join(workdir, "metrics.json")):
                        raise SystemExit(f"--recipe: {flag} names recipe {part[1:]!r}, whose "
                                         f"{run_name} run {workdir} has not finished; list "
                                         f"that recipe earlier")
                    part = workdir
                parts.append(part)
            flag = f"{name}={','.join(parts)}"
        resolved.append(flag)
    return resolved


def markdown(rows: list[dict]) -> str:
    lines = ["| recipe | trained on | judged on | val AUC | val AUC int8 | test AUC | "
             "test AUC int8 | test acc int8 | test FPR int8 (reals called fake) | train wall |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(
            f"| {r['recipe']} | {r['trained_on']} | {r['family']}"
            f"{'' if r['trained_on_it'] else ' (left out)'} | {r['validation_auc']:.4f} | "
            f"{r['validation_int8_auc']:.4f} | {r['test_auc']:.4f} | {r['test_int8_auc']:.4f} | "
            f"{r['test_int8_accuracy']:.4f} | {r['test_int8_fpr']:.4f} | "
            f"{r['train_wall_s']:.0f} s |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", default="../shared/data", help="folder of the face sets")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--recipe", action="append", required=True,
                        help="NAME:FLAGFILE[:EXTRA_FLAG...], repeatable, run in order; a "
                             "flag's value @NAME is recipe NAME's run on the same families "
                             "(a student: --teacher=@default)")
    parser.add_argument("--epochs", type=int, default=5, help="the same budget for every run")
    parser.add_argument("--out", default="runs/lofo")
    parser.add_argument("--skip_all", action="store_true",
                        help="only the left-out runs, not the one trained on every family")
    parser.add_argument("--only_left_out", default=None,
                        help="comma-separated families to leave out (default: each in turn; "
                             "empty: none, only the run trained on every family)")
    args = parser.parse_args(argv)
    quiet.import_tensorflow()  # its C++ start-up lines held back, as dfd's binaries do
    families = args.families.split(",")
    data_dirs = {f: built(args.shared, args.out, f) for f in families}
    left_out = families if args.only_left_out is None else [
        f for f in args.only_left_out.split(",") if f]
    rows = []
    for spec in args.recipe:
        name, flagfile, *extra = spec.split(":")
        plans = [(f"without_{f}", [g for g in families if g != f], [f]) for f in left_out]
        if not args.skip_all:
            plans.append(("all", families, families))
        for run_name, trained, judged in plans:
            workdir = os.path.abspath(os.path.join(args.out, name, run_name))
            os.makedirs(os.path.dirname(workdir), exist_ok=True)
            wall = train(flagfile, resolve_runs(extra, args.out, run_name),
                         [data_dirs[f] for f in trained], workdir, args.epochs,
                         robustness=run_name == "all")
            for family in judged:
                row = judge(workdir, data_dirs, family, family in trained)
                row.update(recipe=name, trained_on="+".join(trained), train_wall_s=wall)
                rows.append(row)
                print(markdown([row]).splitlines()[-1], file=sys.stderr, flush=True)
    with open(os.path.join(args.out, "generalization.json"), "w") as f:
        json.dump({"epochs": args.epochs, "rows": rows}, f, indent=2)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
