"""How often the face mesh gives a real image its outline, and how much of it the outline covers.

    python -m benchmarks.face_masks --source=../shared/data/dfdc_faces/Dataset \
        [--source=...] [--split=Train] [--limit=0] [--image_size=128] [--out=face_masks.json]

`--self_blend_mask=face_mesh` blends inside the outline only where the mesh is sure of a face
(`dfd.lite.faces.mesh.MIN_PRESENCE`); elsewhere it falls back to the ellipse. This says, per
source, the share of real images that get an outline, the mean share of the model's input the
outline covers (an ellipse of the default's radii covers ~0.2-0.55), which window size won,
and the milliseconds per image the mesh costs on this machine (one thread, all windows).
Reads the Kaggle-layout folders directly (the centred square, as the pipeline hands the mesh).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import time

import numpy as np
from PIL import Image

from dfd.cli import quiet
from dfd.common.preprocess import center_square_box
from dfd.lite.faces.mesh import ZOOMS, FaceMesh


def centred_square(path: str) -> Image.Image:
    image = Image.open(path).convert("RGB")
    top, left, side = center_square_box(image.height, image.width)
    return image.crop((left, top, left + side, top + side))


def measure(source: str, split: str, limit: int, size: int, mesh: FaceMesh) -> dict:
    from dfd.train.face_masks import hull_mask

    folder = os.path.join(source, split, "Real")
    files = sorted(os.listdir(folder))
    if limit:
        files = files[::max(1, len(files) // limit)][:limit]
    found, coverage, zooms, seconds = 0, [], collections.Counter(), 0.0
    for name in files:
        square = centred_square(os.path.join(folder, name))
        start = time.perf_counter()
        best = mesh.landmarks(square)
        seconds += time.perf_counter() - start
        if best is not None:
            found += 1
            zooms[best.zoom] += 1
            coverage.append(float((hull_mask(best.points, square.size[0], size) > 0).mean()))
    return {"images": len(files), "with_outline": found, "share": found / max(len(files), 1),
            "mean_coverage": float(np.mean(coverage)) if coverage else None,
            "winning_zoom": {str(z): zooms[z] for z in ZOOMS},
            "ms_per_image": 1000.0 * seconds / max(len(files), 1)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", action="append", required=True,
                        help="a Kaggle-layout Dataset/ folder (repeatable)")
    parser.add_argument("--split", default="Train")
    parser.add_argument("--limit", type=int, default=0,
                        help="at most this many images, evenly spread (0 = all)")
    parser.add_argument("--image_size", type=int, default=128)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    quiet.import_tensorflow()  # dfd.train.face_masks imports it: its start-up lines held back
    mesh = FaceMesh(threads=1)
    results = {}
    print("| source | real images | with an outline | mean coverage "
          "| winning window (1.0 / 1.5 / 2.0) | ms per image |")
    print("| --- | --- | --- | --- | --- | --- |")
    for source in args.source:
        name = os.path.basename(os.path.dirname(os.path.abspath(source)))
        r = results[name] = measure(source, args.split, args.limit, args.image_size, mesh)
        coverage = "-" if r["mean_coverage"] is None else f"{r['mean_coverage']:.3f}"
        print(f"| {name} | {r['images']} | {r['with_outline']} ({r['share']:.1%}) | {coverage} | "
              f"{' / '.join(str(v) for v in r['winning_zoom'].values())} | "
              f"{r['ms_per_image']:.1f} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
