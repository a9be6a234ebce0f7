"""How closely a distilled student judges like its teacher, into the student's metrics.json.

Labels say how right each model is; agreement says whether the student can stand in for the
teacher, which is the question when the student is the one that ships. Two figures per split:
the student's ROC AUC against the teacher's decisions (teacher P(fake) >= 0.5 as the labels:
does the student rank the images the teacher calls fake above the ones it calls real?), and
the mean absolute difference of the two P(fake) (do the scores, and so any threshold set on
them, carry over?).

Each model is judged on its own preprocessing (`dfd.common.spec` at its own image size, the
photo resized once), as each would be deployed: the comparison is of two shipped models on
the same photos, not of the resized views the teacher saw during training.
"""

from __future__ import annotations

import json
import os

import numpy as np

from dfd.common import metrics

KEY = "teacher"
"""Where metrics.json holds the teacher's figures and the agreement."""


def agreement(teacher_scores: np.ndarray, student_scores: np.ndarray,
              threshold: float = 0.5) -> dict:
    """The student's agreement with the teacher on the same images, in the same order.
    `auc_vs_teacher_decisions` is None when the teacher calls every image the same class."""
    teacher_scores = np.asarray(teacher_scores, np.float64).reshape(-1)
    student_scores = np.asarray(student_scores, np.float64).reshape(-1)
    if teacher_scores.shape != student_scores.shape:
        raise ValueError(f"{teacher_scores.size} teacher scores for {student_scores.size} "
                         f"student scores")
    decisions = (teacher_scores >= threshold).astype(np.int64)
    auc = metrics.roc_auc(decisions, student_scores)
    return {
        "examples": int(decisions.size),
        "teacher_fake_share": float(decisions.mean()) if decisions.size else 0.0,
        "auc_vs_teacher_decisions": None if np.isnan(auc) else auc,
        "mean_abs_difference": float(np.mean(np.abs(student_scores - teacher_scores))),
        "same_decision": float(np.mean((student_scores >= threshold) == decisions)),
    }


def split_report(labels: np.ndarray, teacher_scores: np.ndarray,
                 student_scores: np.ndarray) -> dict:
    """The teacher's own figures against the labels and the student's agreement with it."""
    return {"teacher": metrics.summarize(labels, teacher_scores),
            "agreement": agreement(teacher_scores, student_scores)}


def teacher_scores(teacher, teacher_config: dict, sources: list, split: str,
                   dataset: str) -> dict:
    """{source name: (labels, teacher P(fake))} of one split, in file order."""
    from dfd.evaluate import report
    from dfd.train import pipeline

    cfg = pipeline.PipelineConfig(image_size=int(teacher_config["image_size"]),
                                  batch_size=int(teacher_config.get("batch_size", 32)),
                                  cache="none", augment=())
    return {s.name: report.predict(teacher, pipeline.build_dataset(
        s.data_dir, split, cfg, training=False, dataset=dataset)) for s in sources}


def add_to_metrics(workdir: str, teacher, teacher_config: dict, splits: list[str],
                   recorded: dict) -> dict:
    """Writes metrics.json's `teacher` entry: `recorded` (the run, checkpoint, sha256 that
    config.json holds), then per split the union's and each source's teacher figures and
    the agreement of the run's chosen checkpoint with them; returns the whole report."""
    from dfd.evaluate import report as evaluation
    from dfd.evaluate.run_folder import load_config, load_model, run_sources

    config = load_config(workdir)
    sources = run_sources(config)
    student, _ = load_model(workdir)
    _, curves = evaluation.evaluate_splits(student, config, sources, splits)
    entry = {**recorded, "splits": {}, "sources": {s.name: {} for s in sources}}
    for split in splits:
        found = teacher_scores(teacher, teacher_config, sources, split, config["dataset"])
        union = [[], [], []]
        for source in sources:
            labels, student_p = curves[source.name][split]
            truth, teacher_p = found[source.name]
            if not np.array_equal(truth, labels):
                raise ValueError(f"{source.name} {split}: the teacher's and the student's "
                                 f"images are not in the same order")
            entry["sources"][source.name][split] = split_report(labels, teacher_p, student_p)
            for part, values in zip(union, (labels, teacher_p, student_p)):
                part.append(values)
        entry["splits"][split] = split_report(*(np.concatenate(p) for p in union))
    path = os.path.join(workdir, "metrics.json")
    with open(path) as f:
        report = json.load(f)
    report[KEY] = entry
    with open(path, "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
    return report
