"""Classify images on a device: `python -m dfd.lite classify MODEL.tflite PATH...` (`dfd-lite`).

Prints one JSON line per image, `{"file", "p_fake", "verdict", "threshold", "ms"}`, or
`{"file", "error"}` for a file that cannot be classified; the others go on regardless. On
stderr, first which kernels run and why (`--kernels=auto` checks XNNPACK against the
bundle's golden vectors), last a summary. Exit
status: 0 all classified, 1 some image failed, 2 the model or the command line is unusable.
Plain argparse, not absl: the device installs numpy, pillow and the interpreter, nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Iterator

from dfd import spec
from dfd.imaging.files import read_image_file
from dfd.lite import imageio
from dfd.lite.detector import Detector, ModelError
from dfd.lite.interpreter import KERNELS, NoInterpreterError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
"""Files picked up inside a folder. A file named on the command line is always tried: its
type is judged by decoding, never by its name."""


def expand(paths: list[str]) -> Iterator[str]:
    """Named files as given; inside folders, image-like files in path order."""
    for path in paths:
        if os.path.isdir(path):
            yield from sorted(os.path.join(folder, name)
                              for folder, _, files in os.walk(path) for name in files
                              if name.lower().endswith(IMAGE_SUFFIXES))
        else:
            yield path


def classify_one(detector: Detector, path: str, max_bytes: int) -> dict:
    """One file's JSON line; whatever the file is, its error is its own."""
    try:
        data = read_image_file(path, max_bytes)
        return {"file": path, **detector.classify_bytes(data).as_dict()}
    except imageio.ImageError as e:
        return {"file": path, "error": str(e)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dfd-lite", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    classify = commands.add_parser("classify", help="print P(fake) for images as JSON lines")
    classify.add_argument("model", help="an exported .tflite file (model.json beside it)")
    classify.add_argument("paths", nargs="+", help="image files and folders of images")
    classify.add_argument("--threads", type=int, default=None,
                          help="interpreter threads (default: the cores this process may "
                               "use)")
    classify.add_argument("--threshold", default=None,
                          help='P(fake) at or above which the verdict is fake: a number or a '
                               'model.json threshold name such as "eer_validation" '
                               '(default: the card\'s default, else 0.5)')
    classify.add_argument("--kernels", choices=KERNELS, default="auto",
                          help="CPU kernels: auto = XNNPACK if it reproduces the bundle's "
                               "golden vectors on this device, else TFLite's builtin kernels "
                               "(the reason is printed); xnnpack or builtin force one")
    classify.add_argument("--max_file_mb", type=float,
                          default=imageio.MAX_FILE_BYTES / (1024 * 1024),
                          help="larger files are refused unread, as the server refuses them")
    args = parser.parse_args(argv)
    if args.max_file_mb <= 0:
        parser.error("--max_file_mb must be positive")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        detector = Detector(args.model, threads=args.threads, threshold=args.threshold,
                            kernels=args.kernels)
    except (ModelError, NoInterpreterError) as e:
        print(f"dfd-lite: {e}", file=sys.stderr)
        return 2
    print(f"dfd-lite: {detector.kernels} kernels, {detector.threads} threads: "
          f"{detector.kernel_choice.reason}", file=sys.stderr, flush=True)
    results = []
    for path in expand(args.paths):
        results.append(classify_one(detector, path, int(args.max_file_mb * 1024 * 1024)))
        print(json.dumps(results[-1]), flush=True)
    print(summary(results, detector), file=sys.stderr)
    return 1 if any("error" in r for r in results) else 0


def folder_label(path: str) -> str | None:
    """"fake" or "real" when the file sits in a Kaggle-style Fake/ or Real/ folder."""
    name = os.path.basename(os.path.dirname(path)).lower()
    return name if name in spec.LABELS else None


def summary(results: list[dict], detector: Detector) -> str:
    """One line for a person: counts, and accuracy where folder names give the truth."""
    done = [r for r in results if "error" not in r]
    fakes = sum(r["verdict"] == "fake" for r in done)
    line = (f"dfd-lite: {len(done)} classified ({fakes} fake, {len(done) - fakes} real), "
            f"{len(results) - len(done)} failed; {detector.description['file']} "
            f"({detector.kernels} kernels)")
    labelled = [(r, folder_label(r["file"])) for r in done if folder_label(r["file"])]
    if labelled:
        right = sum(r["verdict"] == label for r, label in labelled)
        line += (f"; against Fake/Real folder names: accuracy {right / len(labelled):.4f} "
                 f"on {len(labelled)}")
    return line


if __name__ == "__main__":
    sys.exit(main())
