"""Training and evaluating on several sources at once: each a TFDS data dir built on its own
(one per face set a user has), named, weighted, and checked before anything is written.

A detector trained on one family of fake does not carry over to another (FINDINGS.md: face
swaps, GAN faces and local edits each need to be seen), so a run names every source it
trained on, in config.json, flags.txt, metrics.json and the bundle's model.json, and every
figure of its report is given per source as well as for their union.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Sequence

from dfd.train import pipeline


class SourceError(ValueError):
    """A data dir that cannot be trained or evaluated on; the message names it and the fix."""


@dataclasses.dataclass(frozen=True)
class Source:
    name: str
    data_dir: str
    weight: float = 1.0


def default_name(data_dir: str) -> str:
    """A source is named by its data dir's last folder name (runs/sources/rff160 -> rff160)."""
    return os.path.basename(os.path.normpath(data_dir))


def resolve(data_dirs: Sequence[str], names: Sequence[str] | None = None,
            weights: Sequence[float] | None = None) -> list[Source]:
    """Sources from the --data_dir, --source_names and --source_weights lists; raises
    SourceError naming the flag when they do not line up."""
    if not data_dirs:
        raise SourceError("--data_dir names no data dir")
    names = list(names) if names else [default_name(d) for d in data_dirs]
    if len(names) != len(data_dirs):
        raise SourceError(f"--source_names has {len(names)} names for {len(data_dirs)} "
                          f"--data_dir entries: give one name per data dir")
    if len(set(names)) != len(names):
        raise SourceError(f"sources must have distinct names, got {names}: name them with "
                          f"--source_names (by default a source is its data dir's last folder)")
    if weights is None or len(weights) == 0:
        weights = [1.0] * len(data_dirs)
    if len(weights) != len(data_dirs):
        raise SourceError(f"--source_weights has {len(weights)} weights for {len(data_dirs)} "
                          f"--data_dir entries: give one weight per data dir")
    for weight in weights:
        if not (math.isfinite(weight) and weight > 0):
            raise SourceError(f"--source_weights must be finite and > 0, got {weight}")
    return [Source(name, os.path.abspath(d), float(w))
            for name, d, w in zip(names, data_dirs, weights)]


def check_built(source: Source, dataset: str = pipeline.DEFAULT_DATASET) -> None:
    """Raises SourceError in one line when `source` holds no dataset dfd can read: a missing
    folder, an empty one, the raw image folder instead of the built one, or a build by
    another version of the builder."""
    where = f"--data_dir={source.data_dir}"
    if not os.path.isdir(source.data_dir):
        raise SourceError(f"{where} does not exist")
    try:
        found = pipeline.builder(source.data_dir, dataset)
        splits = list(found.info.splits.keys())
    except Exception as e:  # TFDS raises several types for a folder it cannot read
        raise SourceError(f"{where} holds no readable {dataset} dataset ({e})") from None
    if splits:
        return
    hint = ""
    if any(os.path.isdir(os.path.join(source.data_dir, d)) for d in ("Dataset", "Train")):
        hint = " (it looks like the raw image folder: build it first)"
    raise SourceError(f"{where} holds no built {dataset} dataset{hint}: "
                      f"{pipeline.unbuilt_reason(found)}")


def from_config(config: dict) -> list[Source]:
    """The sources a run recorded; a run from before multi-source training has one."""
    if "sources" in config:
        return [Source(s["name"], s["data_dir"], s.get("weight", 1.0))
                for s in config["sources"]]
    data_dir = config["data_dir"]
    dirs = [data_dir] if isinstance(data_dir, str) else list(data_dir)
    return resolve(dirs)


def describe(sources: Sequence[Source]) -> list[dict]:
    """What config.json and model.json record of each source."""
    total = sum(s.weight for s in sources)
    return [{"name": s.name, "data_dir": s.data_dir, "weight": s.weight,
             "share": s.weight / total} for s in sources]
