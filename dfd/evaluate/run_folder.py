"""The run-folder contract: what a finished `dfd.train` run holds and how every later step
(evaluate, export, benchmarks) loads it.

A run folder holds config.json (every resolved setting), flags.txt, best.keras (chosen on
validation), final.keras, history.csv, metrics.json and plots.
"""

from __future__ import annotations

import csv
import json
import os

BEST_MODEL = "best.keras"
FINAL_MODEL = "final.keras"


def load_config(workdir: str, data_dir: str | None = None) -> dict:
    """The run's config.json, its data dir replaced by `data_dir` (--data_dir) when the data
    has moved since training; raises FileNotFoundError naming what is missing."""
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing: --workdir must be a dfd.train run folder")
    with open(path) as f:
        config = json.load(f)
    if data_dir:
        config["data_dir"] = os.path.abspath(data_dir)
    elif not os.path.isdir(config["data_dir"]):
        raise FileNotFoundError(
            f"the data dir {config['data_dir']} recorded in {path} does not exist: "
            f"pass --data_dir=where the built dataset is now")
    return config


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
