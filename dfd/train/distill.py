"""Distillation: a student learns from a finished run's model (`--teacher`) as well as the labels.

The teacher runs inside the training step, as a second, frozen model on the very batch the
student gets, after augmentation. Beyer et al. (CVPR 2022, "Knowledge distillation: a good
teacher is patient and consistent") found consistent views to matter more than anything but
the schedule's length: targets computed once from un-augmented images, or from a different
crop, teach the student a function the teacher never computed on what the student saw.

The loss, per image, is (1 - alpha) * BCE(label, p_student) + alpha * T^2 * BCE(sigmoid(z_t / T),
sigmoid(z_s / T)), z being each model's logit and T the temperature (T^2 keeps the soft term's
gradients the size of the hard term's as T grows, Hinton et al. 2015). Class weights and label
smoothing apply as in any run; `alpha` = 0 is plain training with a teacher watching.

Input sizes. The pipeline makes batches at the student's --image_size, exactly as
`dfd.common.spec` prescribes for that size, and a teacher of another size gets the batch
resized (bilinear, half-pixel centres, no antialias, rounded to uint8: spec's steps 3 and 4
applied to the augmented square). The other way round (pipeline at the teacher's size, the
student's batch resized down) would break the contract for the student: resizing an image
twice is not resizing it once, so the student would learn pixels its export never produces
(the SavedModel and the device resize the photo once, to the student's size) and lose the
faint resampling traces it was trained to read. The teacher is the one to see pixels slightly
unlike its own training's; it only supplies targets, and the student ships.

Files. The wrapper's `save` writes the student alone, so best.keras and final.keras of a
distilled run are a plain student that evaluate, export and the device load like any other;
its config.json records the teacher (`teacher_run`: folder, checkpoint, sha256, validation
figures) for the model card.

Several teachers (`--teacher=A,B`, `--teacher_combine`). Recipes that carry over to a family of
fake nobody trained on tend to be experts: one trained on the labelled fakes knows those
families, one trained on self-blends alone knows blending seams and calls GAN faces real
(BUILD_NOTES, issue 21). Their ensemble keeps what each knows, but a device pays for every
model it runs, so a student of the ensemble is the form that could ship (the one measured so
far did not inherit the blend expert's gain on unseen swaps: BUILD_NOTES, session 16). The members
are combined on the logit, inside one frozen model whose `logit` layer is the combination, so
the step, the agreement report and the card treat it as one teacher: `max` calls an image fake
when any expert does (an expert's "real" on a family it never saw is no evidence), `mean`
averages the logits. Members share one input size (each would otherwise need its own resize
of the batch; train a member at the size of the others).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

from dfd.common.card import TEACHER_COMBINE
from dfd.common.checksums import sha256_file

CONFIG = "config.json"
COMBINE = TEACHER_COMBINE
"""How an ensemble of teachers is combined on the logit (see above); the card checks it."""
CHECKPOINTS = ("best.keras", "final.keras")
LOGIT_LAYER = "logit"
"""Every dfd model's pre-sigmoid Dense layer (dfd.train.models._p_fake_head)."""
EPSILON = 1e-7
"""How close to 0 or 1 the student's P(fake) may get before its logit is recovered from it
(Keras's own binary cross-entropy clips at the same value)."""


class TeacherError(ValueError):
    """--teacher names something that cannot teach; the message names the flag."""


@dataclasses.dataclass(frozen=True)
class TeacherRun:
    """A finished dfd.train run that can teach: where it is, which checkpoint, its config."""
    run_dir: str
    checkpoint: str
    config: dict

    @property
    def image_size(self) -> int:
        return int(self.config["image_size"])

    @property
    def model_path(self) -> str:
        return os.path.join(self.run_dir, self.checkpoint)


def find_teacher(run_dir: str) -> TeacherRun:
    """The run folder `run_dir` as a teacher; raises TeacherError naming --teacher when it
    is missing, holds no best.keras or final.keras, or its config.json is unreadable. Reads
    no model: the binary calls it before anything is written."""
    flag = f"--teacher={run_dir}"
    if not os.path.isdir(run_dir):
        raise TeacherError(f"{flag}: no such run folder")
    run_dir = os.path.abspath(run_dir)
    checkpoint = next((name for name in CHECKPOINTS
                       if os.path.isfile(os.path.join(run_dir, name))), None)
    if checkpoint is None:
        raise TeacherError(f"{flag}: holds no {' or '.join(CHECKPOINTS)} (not a finished "
                           f"dfd.train run)")
    path = os.path.join(run_dir, CONFIG)
    try:
        with open(path) as f:
            config = json.load(f)
        size = int(config["image_size"])
        if not 1 <= size <= 4096:
            raise ValueError(f"image_size {size}")
    except FileNotFoundError:
        raise TeacherError(f"{flag}: {CONFIG} is missing (not a dfd.train run folder)") from None
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise TeacherError(f"{flag}: {CONFIG} is unreadable ({type(e).__name__}: {e})") from None
    return TeacherRun(run_dir, checkpoint, config)


def find_teachers(run_dirs: list[str] | str) -> list[TeacherRun]:
    """Each of --teacher's run folders as a teacher (find_teacher), refusing a folder named
    twice and members of different input sizes, naming the flag. One folder may come as a
    plain string, as --teacher was before it took a list (a library caller's settings)."""
    if isinstance(run_dirs, str):
        run_dirs = [run_dirs]
    runs = [find_teacher(run_dir) for run_dir in run_dirs]
    flag = f"--teacher={','.join(run_dirs)}"
    folders = [os.path.realpath(run.run_dir) for run in runs]
    if len(set(folders)) != len(folders):
        raise TeacherError(f"{flag}: names a run folder twice")
    sizes = {run.image_size for run in runs}
    if len(sizes) > 1:
        raise TeacherError(f"{flag}: the teachers take "
                           f"{', '.join(f'{r.image_size} px ({r.run_dir})' for r in runs)}; "
                           f"an ensemble's members share one input size")
    return runs


def check_settings(alpha: float, temperature: float) -> None:
    """Raises TeacherError naming the flag for a weight outside [0, 1] or a temperature that
    is not a finite number > 0 (the binary's flag validators say the same at parse time)."""
    if not (math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise TeacherError(f"--distill_alpha={alpha}: must be in [0, 1]")
    if not (math.isfinite(temperature) and temperature > 0.0):
        raise TeacherError(f"--distill_temperature={temperature}: must be a finite number > 0")


FIGURES = ("auc", "accuracy", "eer", "loss", "examples")
"""The teacher's figures config.json (and so the model card) quotes, per split."""


def _quoted(figures: dict) -> dict:
    """FIGURES of one split's report, an undefined figure (NaN) as None: JSON has no NaN,
    and the card check (dfd.common.card) refuses it."""
    return {k: (None if isinstance(figures[k], float) and not math.isfinite(figures[k])
                else figures[k]) for k in FIGURES if k in figures}


def describe(teacher: TeacherRun) -> dict:
    """What the student's config.json (and so its model card) records of its teacher: the
    run, the checkpoint and its sha256, the sources it trained on, and its own validation
    figures for their union and for each of them (its metrics.json)."""
    selected_on = teacher.config.get("eval_split", "validation")
    report = {}
    metrics_path = os.path.join(teacher.run_dir, "metrics.json")
    if os.path.exists(metrics_path):
        with open(metrics_path) as f:
            report = json.load(f)
    by_source = {name: _quoted(entry.get("splits", {}).get(selected_on, {}))
                 for name, entry in report.get("sources", {}).items()
                 if entry.get("trained_on", True)}
    return {"run": teacher.run_dir, "checkpoint": teacher.checkpoint,
            "sha256": sha256_file(teacher.model_path), "model": teacher.config.get("model"),
            "image_size": teacher.image_size, "selected_on": selected_on,
            "sources": list(teacher.config.get("source_names") or by_source),
            "validation": _quoted(report.get("splits", {}).get(selected_on, {})),
            "validation_by_source": by_source}


def describe_teachers(runs: list[TeacherRun], combine: str) -> dict:
    """config.json's `teacher_run`: one teacher as `describe` says; an ensemble as how it is
    combined, each member as `describe` says, their shared input size and every source any
    member trained on."""
    if len(runs) == 1:
        return describe(runs[0])
    members = [describe(run) for run in runs]
    sources = list(dict.fromkeys(name for m in members for name in m["sources"]))
    return {"combine": combine, "members": members, "image_size": runs[0].image_size,
            "model": f"{combine}({', '.join(str(m['model']) for m in members)})",
            "sources": sources}


def load_teachers(runs: list[TeacherRun], combine: str):
    """One frozen teacher model: the single run's (load_teacher), or the ensemble of the
    runs' models combined on the logit by `combine`, its `logit` layer the combination and
    its output the sigmoid of it, so that it is used exactly as one teacher is."""
    models = [load_teacher(run) for run in runs]
    if len(models) == 1:
        return models[0]
    return ensemble(models, combine)


def ensemble(models: list, combine: str):
    """The frozen model whose logit is the `combine` of the dfd models' logits."""
    import keras

    if combine not in COMBINE:
        raise TeacherError(f"--teacher_combine={combine}: must be one of {', '.join(COMBINE)}")
    first = models[0].inputs[0]
    inputs = keras.Input(tuple(first.shape[1:]), dtype=first.dtype, name="pixels")
    logits = []
    for i, model in enumerate(models):
        member = keras.Model(model.inputs, model.get_layer(LOGIT_LAYER).output,
                             name=f"member_{i}")
        logits.append(keras.layers.Reshape((1,), dtype="float32")(member(inputs)))
    layer = keras.layers.Maximum if combine == "max" else keras.layers.Average
    logit = layer(name=LOGIT_LAYER, dtype="float32")(logits)
    p_fake = keras.layers.Activation("sigmoid", dtype="float32", name="p_fake")(logit)
    model = keras.Model(inputs, keras.layers.Reshape((), dtype="float32")(p_fake),
                        name=f"teachers_{combine}")
    model.trainable = False
    return model


def load_teacher(teacher: TeacherRun):
    """The teacher's Keras model, frozen; raises TeacherError naming --teacher when its
    checkpoint does not load or is not a dfd model of the size its config.json says (one
    square RGB input, a `logit` layer, one P(fake) per image)."""
    from dfd.evaluate import run_folder
    flag = f"--teacher={teacher.run_dir}"
    try:
        model, _ = run_folder.load_model(teacher.run_dir)
    except Exception as e:  # noqa: BLE001 - Keras raises anything from a damaged file
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise TeacherError(f"{flag}: {teacher.checkpoint} cannot be loaded as a Keras model "
                           f"({type(e).__name__}: {first})") from None
    shape = tuple(model.inputs[0].shape[1:]) if len(model.inputs) == 1 else None
    if shape != (teacher.image_size, teacher.image_size, 3):
        raise TeacherError(f"{flag}: {teacher.checkpoint} takes {shape}, not the "
                           f"({teacher.image_size}, {teacher.image_size}, 3) its {CONFIG} says")
    if LOGIT_LAYER not in {layer.name for layer in model.layers}:
        raise TeacherError(f"{flag}: {teacher.checkpoint} has no {LOGIT_LAYER!r} layer (not a "
                           f"dfd.train.models model)")
    logit = model.get_layer(LOGIT_LAYER).output
    if len(model.outputs) != 1 or tuple(logit.shape[1:]) not in ((), (1,)):
        raise TeacherError(f"{flag}: {teacher.checkpoint} gives {len(model.outputs)} outputs "
                           f"and a {tuple(logit.shape[1:])} {LOGIT_LAYER!r}, not one P(fake) "
                           f"per image (not a dfd.train.models model)")
    model.trainable = False
    return model


def distiller(student, teacher, alpha: float, temperature: float, label_smoothing: float = 0.0):
    """The model `fit` trains when a teacher is given: the student's outputs, the loss above.

    Compile it with metrics only (its loss is its own). Its weights hold the teacher's too
    (frozen), so BackupAndRestore resumes it whole; `save` writes the student alone."""
    import keras
    import tensorflow as tf

    from dfd.train import pipeline

    check_settings(alpha, temperature)

    class Distiller(keras.Model):
        def __init__(self):
            super().__init__(name=f"{student.name}_distilled")
            self.student = student
            self.teacher_logit = keras.Model(teacher.inputs,
                                             teacher.get_layer(LOGIT_LAYER).output,
                                             name="teacher_logit")
            self.teacher_logit.trainable = False
            self.teacher_size = int(teacher.inputs[0].shape[1])
            self.student_size = int(student.inputs[0].shape[1])
            self.built = True  # both models are built; BackupAndRestore refuses unbuilt ones

        def call(self, images, training=False):
            return self.student(images, training=training)

        def teacher_logits(self, images):
            """The teacher's logits (B,) on `images` (the student's batch), float32."""
            if self.teacher_size != self.student_size:
                images = pipeline.resize_to_uint8(images, self.teacher_size)
            logits = self.teacher_logit(images, training=False)
            return tf.stop_gradient(tf.reshape(tf.cast(logits, tf.float32), [-1]))

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                         training=True):
            p_student = tf.reshape(tf.cast(y_pred, tf.float32), [-1])
            labels = tf.reshape(tf.cast(y, tf.float32), [-1])
            hard = keras.losses.binary_crossentropy(labels[:, None], p_student[:, None],
                                                    label_smoothing=label_smoothing)
            per_image = (1.0 - alpha) * hard
            if alpha:
                clipped = tf.clip_by_value(p_student, EPSILON, 1.0 - EPSILON)
                z_student = tf.math.log(clipped) - tf.math.log1p(-clipped)
                target = tf.sigmoid(self.teacher_logits(x) / temperature)
                soft = tf.nn.sigmoid_cross_entropy_with_logits(labels=target,
                                                               logits=z_student / temperature)
                per_image += alpha * temperature ** 2 * soft
            if sample_weight is not None:
                per_image *= tf.reshape(tf.cast(sample_weight, tf.float32), [-1])
            loss = tf.reduce_mean(per_image)
            for extra in self.losses:  # regularisation the student's layers add, if any
                loss += tf.cast(extra, tf.float32)
            return loss

        def save(self, filepath, *args, **kwargs):
            """The student alone: a distilled run's checkpoints are the model that ships."""
            return self.student.save(filepath, *args, **kwargs)

    return Distiller()
