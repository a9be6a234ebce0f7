"""Faces: measure the crop framing, and judge composed photos.

    python -m benchmarks.faces margin --bundle=DIR [--per_class=300]
    python -m benchmarks.faces photos --bundle=DIR [--photos=40] [--threads=1]

`margin` runs the bundle's face detector on training-split images of the shared sets (each
pasted at half the window on grey, as a face in a photo) and prints, per set and class,
the percentiles of the training crop (the centred square the classifier sees) relative to
the detected box: side over box side and centre offset in box sides. Their pooled medians
are `dfd.lite.faces.crop.CROP`.

`photos` composes photos from test-split crops of both sets (1 to 5 faces, crops 64 to 600
pixels, backgrounds up to 12 megapixels, plus photos with no face) and prints face recall
(the detector's crop overlapping the pasted training crop at IoU >= 0.5), false faces per
photo, how well the crops reproduce the pasted ones, the score of found and false faces,
and milliseconds per photo (decode to verdict) by number of faces and photo size; then
cold start of `dfd-lite classify` with faces on. The machine may be shared: the load
average is printed with the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from dfd.lite.detector import Detector
from dfd.lite.explain import Explainer
from dfd.lite.faces import CARD_KEY, FaceFinder, search
from dfd.lite.interpreter import default_threads
from support.face_photos import CLASSES, SETS, compose, jpeg, match, training_square

SHARED = os.environ.get("DFD_SHARED_DATA", os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "shared",
    "data"))


def images_of(shared: str, name: str, split: str, label: str) -> list[str]:
    folder = os.path.join(shared, name, "Dataset", split, label)
    return sorted(os.path.join(folder, f) for f in os.listdir(folder))


def measure_margin(bundle: str, shared: str, per_class: int) -> dict:
    card = json.load(open(os.path.join(bundle, "model.json")))
    finder = FaceFinder(bundle, card[CARD_KEY], 1, "xnnpack")
    rows_all, report = [], {}
    for name in SETS:
        for label in CLASSES:
            files = images_of(shared, name, "Train", label)
            rng = np.random.default_rng(0)
            files = [files[i] for i in rng.choice(len(files), min(per_class, len(files)),
                                                   replace=False)]
            rows, missed = [], 0
            for path in files:
                image = Image.open(path).convert("RGB")
                left, top, side = training_square(*image.size)
                window = 2 * max(image.size)
                canvas = Image.new("RGB", (window, window), (128, 128, 128))
                ox, oy = (window - image.width) // 2, (window - image.height) // 2
                canvas.paste(image, (ox, oy))
                found = finder.detections(canvas)
                if not len(found):
                    missed += 1
                    continue
                x0, y0, x1, y1 = found.boxes[0] - np.asarray([ox, oy, ox, oy], np.float32)
                box = ((x1 - x0) + (y1 - y0)) / 2
                rows.append((side / box, (left + side / 2 - (x0 + x1) / 2) / box,
                             (top + side / 2 - (y0 + y1) / 2) / box))
            rows_all += rows
            table = np.asarray(rows)
            report[f"{name}/{label}"] = {
                "images": len(files), "no_face_found": missed,
                **{key: [round(float(v), 3) for v in np.percentile(table[:, i], [10, 50, 90])]
                   for i, key in enumerate(("side_over_box", "dx", "dy"))}}
    pooled = np.asarray(rows_all)
    report["pooled_median"] = {"side_over_box": round(float(np.median(pooled[:, 0])), 3),
                               "center_offset": [round(float(np.median(pooled[:, 1])), 3),
                                                 round(float(np.median(pooled[:, 2])), 3)]}
    return report


def photo_cases(shared: str, photos: int, seed: int):
    """(photo bytes, truths, label per face, megapixels) for composed photos, the last
    tenth with no face."""
    rng = np.random.default_rng(seed)
    pool = [(path, label) for name in SETS for label in CLASSES
            for path in images_of(shared, name, "Test", label)]
    sizes = [(1024, 768), (2048, 1536), (4000, 3000)]
    for index in range(photos):
        width, height = sizes[index % len(sizes)]
        count = 0 if index >= photos - max(1, photos // 10) else 1 + index % 5
        chosen = [pool[i] for i in rng.choice(len(pool), count, replace=False)]
        faces = [Image.open(p).convert("RGB") for p, _ in chosen]
        face_sizes = [int(rng.integers(64, min(600, height // 3))) for _ in chosen]
        photo, truths = compose(rng, faces, width, height, face_sizes)
        yield jpeg(photo), truths, [label for _, label in chosen], width * height / 1e6


def measure_photos(bundle: str, shared: str, photos: int, threads: int, seed: int) -> dict:
    model = os.path.join(bundle, "model_int8.tflite")
    detector = Detector(model, threads=threads, faces="on")
    detector.classify_bytes(jpeg(Image.new("RGB", (256, 256))))  # warm-up
    found_ious, false_faces, ms, scores_true, scores_false = [], [], {}, [], []
    small_recall = []
    for data, truths, _, megapixels in photo_cases(shared, photos, seed):
        answer = detector.classify_bytes(data)
        crops = [face["crop"] for face in answer.faces]
        best, false = match(crops, truths)
        found_ious += best
        false_faces.append(len(false))
        small_recall += [b >= 0.5 for b, t in zip(best, truths) if t[2] - t[0] < 128]
        scores_true += [answer.faces[i]["score"] for i in range(len(crops)) if i not in false]
        scores_false += [answer.faces[i]["score"] for i in false]
        ms.setdefault((len(truths), round(megapixels, 1)), []).append(answer.ms)
    recall = float(np.mean([b >= 0.5 for b in found_ious])) if found_ious else None
    return {
        "photos": photos, "faces": len(found_ious), "threads": threads,
        "kernels": detector.kernels, "recall_iou_0.5": recall,
        "recall_faces_under_128px": (float(np.mean(small_recall)) if small_recall else None),
        "median_crop_iou": round(float(np.median(found_ious)), 3) if found_ious else None,
        "false_faces_per_photo": round(float(np.mean(false_faces)), 3),
        "score_found_min": min(scores_true) if scores_true else None,
        "score_false_max": max(scores_false) if scores_false else None,
        "ms_median_by_faces_and_megapixels": {
            f"{faces} faces, {mp} MP": round(statistics.median(v), 1)
            for (faces, mp), v in sorted(ms.items())},
    }


def timing(bundle: str, shared: str, threads: int, repeats: int, seed: int) -> dict:
    """Median wall and CPU milliseconds per photo (decode to verdict, int8, kernels as auto
    chose) for 1 and 5 faces on a 1 MP and a 12 MP photo, the face search's share, and the
    same photo with --explain (every face's occlusion map)."""
    detector = Detector(os.path.join(bundle, "model_int8.tflite"), threads=threads, faces="on")
    explainer = Explainer(detector)
    rng = np.random.default_rng(seed)
    pool = [path for name in SETS for path in images_of(shared, name, "Test", "Real")]
    out = {}
    for width, height in ((1024, 768), (4000, 3000)):
        for count in (1, 5):
            faces = [Image.open(pool[i]).convert("RGB")
                     for i in rng.choice(len(pool), count, replace=False)]
            photo, _ = compose(rng, faces, width, height,
                               [int(v) for v in rng.integers(96, height // 4, count)])
            data = jpeg(photo)
            detector.classify_bytes(data)  # warm-up
            wall, cpu, search_ms = [], [], []
            for _ in range(repeats):
                start, start_cpu = time.perf_counter(), time.process_time()
                answer = detector.classify_bytes(data)
                wall.append((time.perf_counter() - start) * 1000)
                cpu.append((time.process_time() - start_cpu) * 1000)
                decoded = Image.open(io.BytesIO(data))
                decoded.load()
                start = time.process_time()
                detector.face_finder.find(decoded)
                search_ms.append((time.process_time() - start) * 1000)
            explain_wall, explain_cpu = [], []
            for _ in range(repeats):  # --explain: the verdict plus a map of every face
                start, start_cpu = time.perf_counter(), time.process_time()
                explainer.explain_bytes(data)
                explain_wall.append((time.perf_counter() - start) * 1000)
                explain_cpu.append((time.process_time() - start_cpu) * 1000)
            out[f"{count} faces, {width}x{height}"] = {
                "found": len(answer.faces), "wall_ms": round(statistics.median(wall), 1),
                "cpu_ms": round(statistics.median(cpu), 1),
                "face_search_cpu_ms": round(statistics.median(search_ms), 1),
                "windows": len(search.windows(width, height, detector.face_finder.min_face)),
                "explain_wall_ms": round(statistics.median(explain_wall), 1),
                "explain_cpu_ms": round(statistics.median(explain_cpu), 1)}
    return out


def cold_start(bundle: str, photo: bytes, repeats: int = 3) -> dict:
    """Median seconds from process start to the first printed verdict, faces on, in wall
    time and in the process's own CPU time (which a shared machine inflates less)."""
    path = os.path.join(bundle, "cold_start_photo.jpg")
    with open(path, "wb") as f:
        f.write(photo)
    times, cpu = [], []
    try:
        for _ in range(repeats):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "dfd.lite", "classify", "--faces=on",
                            "--threads=1", os.path.join(bundle, "model_int8.tflite"), path],
                           check=True, capture_output=True)
            times.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    finally:
        os.remove(path)
    return {"wall_s": round(statistics.median(times), 3),
            "cpu_s": round(statistics.median(cpu), 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("margin", "photos"))
    parser.add_argument("--bundle", required=True, help="an export folder with a face detector")
    parser.add_argument("--shared", default=SHARED, help="the shared data folder")
    parser.add_argument("--per_class", type=int, default=300)
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()}", file=sys.stderr)
    if args.what == "margin":
        result = measure_margin(args.bundle, args.shared, args.per_class)
    else:
        result = measure_photos(args.bundle, args.shared, args.photos, args.threads, args.seed)
        result["timing"] = timing(args.bundle, args.shared, args.threads, 5, args.seed)
        one_face = next(photo_cases(args.shared, 2, args.seed))[0]  # 1 face, 1 MP
        result["cold_start"] = cold_start(args.bundle, one_face)
        result["cpus_allowed"] = default_threads()
    print(json.dumps(result, indent=2))
    print(f"load average at end: {os.getloadavg()}", file=sys.stderr)


if __name__ == "__main__":
    main()
