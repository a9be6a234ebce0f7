"""Do the kernels agree, across kernel sets and across machines? Raw int8 steps, not P(fake).

    python -m benchmarks.kernel_agreement record OUT.npz NAME=EXPORT_DIR... [--images=DIR]
    python -m benchmarks.kernel_agreement compare A.npz B.npz

`record` runs every .tflite of each export folder with XNNPACK, TFLite's builtin and its
reference kernels on the folder's golden inputs (and the JPEGs under --images, preprocessed
by dfd.lite) and stores the raw output tensors. Run it on x86 and on the emulated Pi
(`pi-emulate -- python -m benchmarks.kernel_agreement record ...`: it needs only dfd.lite),
then `compare` prints, per model and kernel set, the largest difference between the two
machines and how many inputs differ by more than one step; and within each file, how far
XNNPACK and builtin are from the reference kernels. This is what the golden-vector
tolerance and the Pi test's bound rest on (BUILD_NOTES.md).
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import sys

import numpy as np

from dfd.lite import imageio, tensors

from dfd.common import preprocess
from dfd.lite.interpreter import RESOLVERS, load_interpreter


def record(out: str, exports: list[str], images: str | None) -> None:
    files = sorted(glob.glob(os.path.join(images, "**", "*.jpg"), recursive=True)) if images \
        else []
    raw = {}
    for named in exports:
        label, _, folder = named.partition("=")
        if not folder:
            raise SystemExit(f"{named}: give exports as NAME=EXPORT_DIR")
        golden = np.load(os.path.join(folder, "golden_inputs.npy"), allow_pickle=False)
        size = golden.shape[1]
        inputs = list(golden) + [preprocess.preprocess(imageio.decode_rgb(open(f, "rb").read()),
                                                       size) for f in files]
        for path in sorted(glob.glob(os.path.join(folder, "*.tflite"))):
            name = f"{label}/{os.path.basename(path)}"
            for kernels in RESOLVERS:
                interpreter, _ = load_interpreter(path, 1, kernels)
                raw[f"{name}:{kernels}"] = np.stack([tensors.run(interpreter, x)
                                                     for x in inputs])
    np.savez(out, machine=np.array(platform.machine()), **raw)
    print(f"{platform.machine()}: {len(raw)} (file, kernels) pairs on {len(inputs)} inputs")


def compare(first: str, second: str) -> None:
    a, b = np.load(first), np.load(second)
    print(f"{a['machine']} ({first}) against {b['machine']} ({second})")
    keys = sorted(k for k in a.files if k != "machine")
    for key in keys:
        d = np.abs(a[key].astype(np.float64) - b[key].astype(np.float64))
        over = f", {int((d > 1).sum())}/{len(d)} inputs > 1 step" if "int8" in key else ""
        print(f"  {key:55s} max |difference| {d.max():.3g}{over}")
    for machine, data in ((a["machine"], a), (b["machine"], b)):
        for model in sorted({k.rsplit(":", 1)[0] for k in keys}):
            reference = data[f"{model}:reference"].astype(np.float64)
            for kernels in ("xnnpack", "builtin"):
                d = np.abs(data[f"{model}:{kernels}"].astype(np.float64) - reference)
                print(f"  on {machine}: {model:45s} {kernels} vs reference max {d.max():.3g}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record")
    rec.add_argument("out")
    rec.add_argument("exports", nargs="+", help="NAME=export folder (with golden_inputs.npy)")
    rec.add_argument("--images", default=None, help="also every *.jpg under this folder")
    cmp = commands.add_parser("compare")
    cmp.add_argument("first")
    cmp.add_argument("second")
    args = parser.parse_args(argv)
    if args.command == "record":
        record(args.out, args.exports, args.images)
    else:
        compare(args.first, args.second)
    return 0


if __name__ == "__main__":
    sys.exit(main())
