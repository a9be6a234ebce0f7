"""The run-folder contract: what a finished `dfd.train` run holds and how every later step
(evaluate, export, benchmarks) loads it.

A run folder holds config.json (every resolved setting), flags.txt, best.keras (chosen on
validation), final.keras, history.csv, metrics.json and plots.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os

from dfd.train import sources as sources_lib

BEST_MODEL = "best.keras"
FINAL_MODEL = "final.keras"


def load_config(workdir: str, data_dirs: list[str] | None = None) -> dict:
    """The run's config.json; raises FileNotFoundError naming what is missing, and, unless
    other `data_dirs` (--data_dir) are given, when a data dir the run recorded is gone."""
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing: --workdir must be a dfd.train run folder")
    with open(path) as f:
        config = json.load(f)
    if not data_dirs:
        for source in sources_lib.from_config(config):
            if not os.path.isdir(source.data_dir):
                raise FileNotFoundError(
                    f"the data dir {source.data_dir} recorded in {path} does not exist: "
                    f"pass --data_dir=where the built dataset is now")
    return config


def run_sources(config: dict, data_dirs: list[str] | None = None,
                names: list[str] | None = None) -> list:
    """The sources a step reads: the run's own (config.json), or `data_dirs` named by
    `names` or by their folders (evaluating where the data moved, or on other sources)."""
    if data_dirs:
        return sources_lib.resolve(data_dirs, names)
    return sources_lib.from_config(config)


def moved_sources(config: dict, data_dirs: list[str] | None) -> list:
    """The run's own sources, their data dirs replaced one for one by `data_dirs` when the
    data moved since training (names and weights kept)."""
    recorded = sources_lib.from_config(config)
    if not data_dirs:
        return recorded
    if len(data_dirs) != len(recorded):
        raise sources_lib.SourceError(
            f"--data_dir has {len(data_dirs)} entries; the run trained on {len(recorded)} "
            f"sources ({', '.join(s.name for s in recorded)}): give one data dir for each, "
            f"in that order")
    return [dataclasses.replace(s, data_dir=os.path.abspath(d))
            for s, d in zip(recorded, data_dirs)]


def load_model(workdir: str):
    import keras
    import dfd.train.loss_scaling  # noqa: F401  (registers the optimizer a mixed-precision run saved)
    import dfd.train.models  # noqa: F401  (registers dfd's serialisable layers)
    for name in (BEST_MODEL, FINAL_MODEL):
        path = os.path.join(workdir, name)
        if os.path.exists(path):
            return keras.models.load_model(path), name
    raise FileNotFoundError(f"no {BEST_MODEL} or {FINAL_MODEL} in {workdir}")


def read_history(workdir: str) -> list[dict]:
    path = os.path.join(workdir, "history.csv")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]
