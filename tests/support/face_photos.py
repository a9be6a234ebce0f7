"""Photos made in memory: faces of the shared sets pasted into face-free scenes, with where
each face is. The tests judge the face search with them and the benchmark times it on them
(`python -m benchmarks.faces photos`), so both see the same kind of photo."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from dfd.lite.faces.nms import iou

SETS = ("rff160", "celeba_stylegan")
CLASSES = ("Real", "Fake")
"""The shared face sets (../shared/data/<set>/Dataset/<split>/<class>) photos are made from."""


def training_square(width: int, height: int) -> tuple[int, int, int]:
    """(left, top, side) of the centred square the classifier sees (dfd.common.spec)."""
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, side


def background(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A face-free scene: smooth colour fields with grain, or stripes and blocks."""
    kind = rng.integers(3)
    if kind == 0:
        cells = rng.integers(0, 256, (rng.integers(3, 12), rng.integers(3, 12), 3), np.uint8)
        image = Image.fromarray(cells).resize((width, height), Image.BICUBIC)
    elif kind == 1:
        ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
        colour = rng.uniform(0.3, 1.0, (1, 1, 3)).astype(np.float32)
        rows = np.linspace(0.5, 1.0, height, dtype=np.float32)[:, None, None]
        image = Image.fromarray((ramp * colour * rows).astype(np.uint8))
    else:
        small = rng.integers(0, 256, (height // 64 + 1, width // 64 + 1, 3), np.uint8)
        image = Image.fromarray(small).resize((width, height), Image.NEAREST)
    grain = rng.normal(0, 6, (64, 64, 3)).astype(np.float32)
    tiled = np.tile(grain, (height // 64 + 1, width // 64 + 1, 1))[:height, :width]
    return Image.fromarray(np.clip(np.asarray(image, np.float32) + tiled, 0, 255)
                           .astype(np.uint8))


def compose(rng: np.random.Generator, faces: list[Image.Image], width: int, height: int,
            sizes: list[int]) -> tuple[Image.Image, list[tuple[float, ...]]]:
    """Pastes each face, scaled so its training square is `sizes[i]` pixels, where it
    overlaps no other; returns the photo and each face's training square (x0, y0, x1, y1)."""
    photo = background(rng, width, height)
    truths = []
    for face, size in zip(faces, sizes):
        left, top, side = training_square(*face.size)
        scale = size / side
        scaled = face.resize((max(1, round(face.width * scale)),
                              max(1, round(face.height * scale))), Image.BILINEAR)
        for _ in range(200):
            x = int(rng.integers(0, width - scaled.width + 1))
            y = int(rng.integers(0, height - scaled.height + 1))
            square = (x + left * scale, y + top * scale, x + (left + side) * scale,
                      y + (top + side) * scale)
            rect = np.asarray([[x, y, x + scaled.width, y + scaled.height]], np.float32)
            if all(iou(np.asarray(t, np.float32), rect)[0] == 0 and
                   not _overlap(t, rect[0]) for t in truths):
                break
        else:
            raise ValueError(f"no room for a {size}px face in a {width}x{height} photo")
        photo.paste(scaled, (x, y))
        truths.append(square)
    return photo, truths


def _overlap(a, b) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def match(found: list[list[float]], truths: list[tuple[float, ...]], threshold: float = 0.5):
    """(IoU of the best found crop for each truth, indexes of found crops matching none)."""
    boxes = np.asarray(found, np.float32).reshape(-1, 4)
    best, used = [], set()
    for truth in truths:
        overlaps = iou(np.asarray(truth, np.float32), boxes) if len(boxes) else np.zeros(0)
        index = int(np.argmax(overlaps)) if len(overlaps) else -1
        best.append(float(overlaps[index]) if index >= 0 else 0.0)
        if index >= 0 and overlaps[index] >= threshold:
            used.add(index)
    false = [i for i in range(len(boxes)) if i not in used]
    return best, false


def jpeg(image: Image.Image, quality: int = 92) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()
