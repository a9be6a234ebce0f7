"""Classify images on a device: `python -m dfd.lite classify MODEL.tflite PATH...` (`dfd-lite`).

Prints one JSON line per image, `{"file", "p_fake", "verdict", "threshold", "ms"}`, or
`{"file", "error"}` for a file that cannot be classified; the others go on regardless. With
`--faces=auto|on` the line also says what was judged (`"judged": "faces"` or `"whole
image"`) and lists `"faces": [{"box", "score", "p_fake", "verdict", "crop"}]` (boxes in the
photo's pixels); the image's p_fake and verdict are its most suspicious face's. On
stderr, first which kernels run and why (`--kernels=auto` checks XNNPACK against the
bundle's golden vectors), last a summary. Exit
status: 0 all classified, 1 some image failed, 2 the model or the command line is unusable.
Plain argparse, not absl: the device installs numpy, pillow and the interpreter, nothing else.

`--explain --explain_dir=DIR` also writes, per judged crop, a PNG of where it looks fake
(`dfd.lite.explain`: the crop with an occlusion heat map over it) into DIR and adds
`"explain": {"png": PATH, "crop", "grid", "max_drop", "hottest", "drops", ...}` to the line.
Each PNG is written atomically under its final name, never through a link planted there
(`dfd.common.atomic`).

File names are bytes: a name that is not valid UTF-8 is carried as Python decodes it
(surrogateescape) and `json.dumps` writes its undecodable bytes as `\\udcXX` escapes, so
every line stays valid ASCII JSON and `os.fsencode(json.loads(line)["file"])` gives the
exact bytes back; `dfd-score` writes the same in JSON lines.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from typing import Iterator

from dfd.common import atomic, spec
from dfd.imaging.files import read_image_file
from dfd.lite import imageio
from dfd.lite import options
from dfd.lite.detector import NO_FACE, Detector
from dfd.lite.explain import GRID, Explainer, attach

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


def classify_one(detector: Detector, path: str, max_bytes: int,
                 explainer: Explainer | None = None, explain_dir: str | None = None) -> dict:
    """One file's JSON line; whatever the file is, its error is its own."""
    try:
        data = read_image_file(path, max_bytes)
        if explainer is None:
            return {"file": path, **detector.classify_bytes(data).as_dict()}
        verdict, heats = explainer.explain_bytes(data)
    except imageio.ImageError as e:
        return {"file": path, "error": str(e)}
    failed = []

    def write_png(heat, face):
        png = os.path.join(explain_dir, explain_name(path, "" if face is None else f"face{face}"))
        try:  # never through a link planted at that name (dfd.common.atomic)
            atomic.write_bytes(png, heat.overlay_png())
        except OSError as e:  # the verdict stands; only its picture is lost
            failed.append(png)
            return {"error": f"cannot write {png}: {e.strerror or e}"}
        return heat.as_dict(png)

    return attach({"file": path, **verdict.as_dict()}, verdict, heats, write_png)


def explain_failed(line: dict) -> bool:
    """A heat map of this line (the image's or a face's) could not be written."""
    entries = [line.get("explain", {})] + [face.get("explain", {})
                                           for face in line.get("faces", [])]
    return any("error" in entry for entry in entries)


def explain_name(path: str, crop: str = "") -> str:
    """The PNG's name in --explain_dir: the image's name, then a digest of its absolute
    path, so photos of the same name in different folders never overwrite each other and a
    rerun rewrites the same files. `crop` tells crops of one photo apart (faces)."""
    digest = hashlib.sha256(os.fsencode(os.path.abspath(path))).hexdigest()[:10]
    # At most 100 bytes of the name, so the PNG's name stays under the usual 255-byte limit.
    stem = os.fsdecode(os.fsencode(os.path.splitext(os.path.basename(path))[0])[:100])
    return f"{stem}-{digest}{'-' + crop if crop else ''}.png"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = options.Parser(prog="dfd-lite", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    classify = commands.add_parser("classify", help="print P(fake) for images as JSON lines")
    classify.add_argument("model", help="an exported .tflite file (model.json beside it)")
    classify.add_argument("paths", nargs="+", help="image files and folders of images")
    options.add_model_options(classify)
    classify.add_argument("--explain", action="store_true",
                          help="also write where each judged crop looks fake: an occlusion "
                               "heat map PNG per crop into --explain_dir (about 1 + grid^2 "
                               "model runs per crop)")
    classify.add_argument("--explain_dir", default=None,
                          help="folder for --explain's PNGs (created if missing)")
    options.EXPLAIN_GRID.add(classify, default=None)
    args = parser.parse_args(argv)
    check_explain_args(parser, args)
    return args


def check_explain_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuses explain flags that cannot mean what the user wants, before any work."""
    if args.explain and not args.explain_dir:
        parser.error("--explain needs --explain_dir=DIR, the folder its PNGs go to")
    if not args.explain:
        given = [f"--{name}" for name in ("explain_dir", "explain_grid")
                 if getattr(args, name) is not None]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            parser.error(f"{' and '.join(given)} only {verb} with --explain")
        return
    if args.explain_grid is None:
        args.explain_grid = GRID
    if os.path.exists(args.explain_dir) and not os.path.isdir(args.explain_dir):
        parser.error(f"--explain_dir {args.explain_dir} exists and is not a folder")
    try:
        os.makedirs(args.explain_dir, exist_ok=True)
    except OSError as e:
        parser.error(f"--explain_dir {args.explain_dir} cannot be created: {e.strerror or e}")
    if not os.access(args.explain_dir, os.W_OK | os.X_OK):
        parser.error(f"--explain_dir {args.explain_dir} is not writable")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    detector = options.open_detector("dfd-lite", args.model, args)
    if detector is None:
        return 2
    print(f"dfd-lite: {detector.kernels} kernels, {detector.threads} threads: "
          f"{detector.kernel_choice.reason}", file=sys.stderr, flush=True)
    if detector.face_note:
        print(f"dfd-lite: {detector.face_note}", file=sys.stderr, flush=True)
    results = []
    explainer = make_explainer(detector, args)
    if args.explain and explainer is None:
        return 2
    for path in expand(args.paths):
        results.append(classify_one(detector, path, options.max_bytes(args),
                                    explainer, args.explain_dir))
        print(json.dumps(results[-1]), flush=True)
    print(summary(results, detector, args.explain_dir if args.explain else None),
          file=sys.stderr)
    return 1 if any("error" in r or explain_failed(r) for r in results) else 0


def make_explainer(detector: Detector, args: argparse.Namespace) -> Explainer | None:
    """The Explainer --explain asks for; None (said on stderr) when its grid cannot fit."""
    if not args.explain:
        return None
    try:
        return Explainer(detector, args.explain_grid)
    except ValueError as e:
        print(f"dfd-lite: --explain_grid: {e}", file=sys.stderr)
        return None


def folder_label(path: str) -> str | None:
    """"fake" or "real" when the file sits in a Kaggle-style Fake/ or Real/ folder."""
    name = os.path.basename(os.path.dirname(path)).lower()
    return name if name in spec.LABELS else None


def summary(results: list[dict], detector: Detector, explain_dir: str | None = None) -> str:
    """One line for a person: counts, and accuracy where folder names give the truth."""
    done = [r for r in results if "error" not in r]
    fakes = sum(r["verdict"] == "fake" for r in done)
    faceless = sum(r["verdict"] == NO_FACE for r in done)
    counts = f"{fakes} fake, {len(done) - fakes - faceless} real"
    if faceless:
        counts += f", {faceless} with no face"
    line = (f"dfd-lite: {len(done)} classified ({counts}), "
            f"{len(results) - len(done)} failed; {detector.description['file']} "
            f"({detector.kernels} kernels)")
    if explain_dir is not None:
        maps = sum("png" in entry for r in done for entry in
                   [r.get("explain", {})] + [f.get("explain", {}) for f in r.get("faces", [])])
        line += f"; {maps} heat map{'' if maps == 1 else 's'} in {explain_dir}"
    labelled = [(r, folder_label(r["file"])) for r in done if folder_label(r["file"])]
    if labelled:
        right = sum(r["verdict"] == label for r, label in labelled)
        line += (f"; against Fake/Real folder names: accuracy {right / len(labelled):.4f} "
                 f"on {len(labelled)}")
    return line


if __name__ == "__main__":
    sys.exit(main())
