"""Distillation (dfd.train.distill): the student moves toward its teacher, the run records
the teacher, and a teacher that cannot teach is refused naming the flag before any work."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import TF_ENV, run_module, textured_rgb
from dfd.common import card as card_schema
from dfd.common.checksums import sha256_file
from dfd.evaluate import agreement

TINY = ["--image_size=32", "--batch_size=8", "--augment=flip", "--early_stopping_patience=0",
        "--cache=memory", "--robustness=none"]


def train_cmd(data_dir, workdir, *extra):
    return [sys.executable, "-m", "dfd.train", f"--data_dir={data_dir}",
            f"--workdir={workdir}", *TINY, *extra]


def brightness_teacher(size: int, slope: float = 12.0):
    """A dfd-shaped model (a `logit` layer before the sigmoid) whose P(fake) is a known
    function of mean brightness: sigmoid(slope * (mean / 255 - 0.5))."""
    import keras

    inputs = keras.Input((size, size, 3), name="pixels")
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    logit = keras.layers.Dense(1, name="logit")
    x = keras.layers.Activation("sigmoid", name="p_fake")(logit(x))
    model = keras.Model(inputs, keras.layers.Reshape(())(x), name="teacher")
    logit.set_weights([np.full((3, 1), slope / (3 * 255), np.float32),
                       np.array([-slope / 2], np.float32)])
    return model


def tiny_student(size: int):
    """A student that can learn the teacher's function, and fast: pooled pixels to a logit."""
    import keras

    inputs = keras.Input((size, size, 3), name="pixels")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(1, activation="sigmoid", name="logit")(x)
    return keras.Model(inputs, keras.layers.Reshape(())(x), name="student")


def fixed_images(count: int, size: int) -> np.ndarray:
    """Textured images from dark to bright, so the teacher's answers span (0.1, 0.9)."""
    images = []
    for i in range(count):
        shift = int(-90 + 180 * i / (count - 1))
        image = textured_rgb(size, size, seed=i).astype(np.int16) + shift
        images.append(np.clip(image, 0, 255).astype(np.uint8))
    return np.stack(images)


def distance_after_training(alpha: float, steps: int = 60) -> tuple[float, float]:
    """(mean |P_student - P_teacher| before, after) `steps` distillation steps at `alpha` on
    fixed images whose labels contradict the teacher. The teacher takes 48 px, the student
    32 px: the step resizes the batch up for the teacher."""
    import keras
    import tensorflow as tf

    from dfd.train import distill, pipeline

    keras.utils.set_random_seed(0)
    images = fixed_images(32, 32)
    teacher = brightness_teacher(48)
    teacher_p = np.asarray(teacher(pipeline.resize_to_uint8(tf.constant(images), 48)))
    labels = (teacher_p < 0.5).astype(np.float32)  # the labels pull away from the teacher
    student = tiny_student(32)
    trained = distill.distiller(student, teacher, alpha, temperature=2.0)
    trained.compile(optimizer=keras.optimizers.Adam(0.05))

    def distance():
        return float(np.mean(np.abs(np.asarray(student(images, training=False)) - teacher_p)))

    before = distance()
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).repeat().batch(16)
    trained.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    return before, distance()


def test_distillation_moves_the_student_toward_the_teacher():
    before, distilled = distance_after_training(alpha=1.0)
    _, labels_only = distance_after_training(alpha=0.0)
    assert distilled < 0.6 * before, (before, distilled)
    assert distilled < labels_only - 0.1, (distilled, labels_only)


def test_distiller_saves_the_student_alone(tmp_path):
    import keras

    from dfd.train import distill, models

    student = models.build("edgenet", 32)
    trained = distill.distiller(student, brightness_teacher(32), 0.5, 2.0)
    trained.save(tmp_path / "best.keras")
    loaded = keras.models.load_model(tmp_path / "best.keras")
    assert loaded.name == "edgenet" and loaded.count_params() == student.count_params()


@pytest.mark.parametrize("combine", ["max", "mean"])
def test_an_ensemble_teacher_combines_its_members_logits(combine):
    """Two experts that disagree (one says bright is fake, the other dark): the ensemble's
    P(fake) is the sigmoid of the max or the mean of their logits, and it distils as one."""
    import keras

    from dfd.train import distill

    images = fixed_images(16, 32)
    members = [brightness_teacher(32, 12.0), brightness_teacher(32, -4.0)]
    logits = np.stack([
        np.asarray(keras.Model(m.inputs, m.get_layer("logit").output)(images)).reshape(-1)
        for m in members])
    assert (logits[0] > logits[1]).any() and (logits[0] < logits[1]).any()
    combined = logits.max(axis=0) if combine == "max" else logits.mean(axis=0)
    teacher = distill.ensemble(members, combine)
    np.testing.assert_allclose(np.asarray(teacher(images)), 1 / (1 + np.exp(-combined)),
                               rtol=1e-5, atol=1e-6)
    assert not teacher.trainable_weights
    trained = distill.distiller(tiny_student(32), teacher, 0.5, 2.0)
    np.testing.assert_allclose(np.asarray(trained.teacher_logits(images)), combined,
                               rtol=1e-5, atol=1e-5)


def test_agreement_of_identical_and_opposite_students():
    teacher = np.array([0.1, 0.2, 0.7, 0.9])
    same = agreement.agreement(teacher, teacher)
    assert same["auc_vs_teacher_decisions"] == 1.0 and same["mean_abs_difference"] == 0.0
    assert same["same_decision"] == 1.0 and same["teacher_fake_share"] == 0.5
    opposite = agreement.agreement(teacher, 1 - teacher)
    assert opposite["auc_vs_teacher_decisions"] == 0.0 and opposite["same_decision"] == 0.0
    assert opposite["mean_abs_difference"] == pytest.approx(0.65)
    assert agreement.agreement(np.full(3, 0.9), np.array([0.1, 0.5, 0.9]))[
        "auc_vs_teacher_decisions"] is None


@pytest.fixture(scope="module")
def teacher_run(tiny_tfds, tmp_path_factory):
    """A finished one-epoch dfdnet run on the tiny data: a teacher."""
    workdir = tmp_path_factory.mktemp("teacher") / "run"
    out = subprocess.run(train_cmd(tiny_tfds / "tfds", workdir, "--model=dfdnet", "--epochs=1"),
                         env=TF_ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return workdir


@pytest.mark.long
@pytest.mark.slow
def test_student_run_records_its_teacher_and_agreement(tiny_tfds, teacher_run, tmp_path):
    workdir = tmp_path / "student"
    out = subprocess.run(train_cmd(tiny_tfds / "tfds", workdir, "--model=edgenet",
                                   "--epochs=1", f"--teacher={teacher_run}",
                                   "--distill_alpha=0.7", "--distill_temperature=3"),
                         env=TF_ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    config = json.loads((workdir / "config.json").read_text())
    recorded = config["teacher_run"]
    assert recorded["run"] == str(teacher_run) and recorded["checkpoint"] == "best.keras"
    assert recorded["sha256"] == sha256_file(teacher_run / "best.keras")
    teacher_metrics = json.loads((teacher_run / "metrics.json").read_text())
    assert recorded["validation"]["auc"] == teacher_metrics["splits"]["validation"]["auc"]
    metrics = json.loads((workdir / "metrics.json").read_text())
    report = metrics["teacher"]
    validation = report["splits"]["validation"]
    assert validation["teacher"]["auc"] == pytest.approx(recorded["validation"]["auc"])
    assert (validation["agreement"]["examples"] == validation["teacher"]["examples"]
            == metrics["splits"]["validation"]["examples"])
    assert 0 <= validation["agreement"]["mean_abs_difference"] <= 1
    assert set(report["sources"]) == set(config["source_names"])

    # the teacher judged, and the student's agreement with it, on each source apart
    for name in config["source_names"]:
        by_source = report["sources"][name]["validation"]
        assert by_source["teacher"]["examples"] == by_source["agreement"]["examples"] == \
            metrics["sources"][name]["splits"]["validation"]["examples"]
    assert recorded["sources"] == teacher_metrics["trained_on"]
    assert set(recorded["validation_by_source"]) == set(teacher_metrics["sources"])

    # the export's model.json records the teacher and passes the one card check
    run_module("dfd.export", f"--workdir={workdir}", f"--out={tmp_path / 'export'}",
               "--calibration_examples=24")
    card = card_schema.read(str(tmp_path / "export" / "model_int8.tflite"))
    assert card["model"] == "edgenet"
    teacher = card["training"]["teacher"]
    assert teacher["sha256"] == recorded["sha256"] and teacher["distill_alpha"] == 0.7
    assert teacher["distill_temperature"] == 3.0
    assert teacher["agreement"]["validation"] == validation["agreement"]
    assert set(teacher["agreement_by_source"]) == set(config["source_names"])


@pytest.mark.long
@pytest.mark.slow
def test_a_student_of_two_teachers_records_both(tiny_tfds, teacher_run, tmp_path):
    """--teacher=A,B: config.json and the card name each member and how they are combined;
    the agreement is with the ensemble (A and an identical twin: the mean of two equal
    logits is the one, so the ensemble's figures are A's)."""
    twin = copy_of(teacher_run, tmp_path / "twin")
    workdir = tmp_path / "student"
    out = subprocess.run(train_cmd(tiny_tfds / "tfds", workdir, "--model=edgenet",
                                   "--epochs=1", f"--teacher={teacher_run},{twin}",
                                   "--teacher_combine=mean"),
                         env=TF_ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    config = json.loads((workdir / "config.json").read_text())
    assert config["teacher"] == [str(teacher_run), str(twin)]
    recorded = config["teacher_run"]
    assert recorded["combine"] == "mean" and recorded["image_size"] == 32
    assert [m["run"] for m in recorded["members"]] == [str(teacher_run), str(twin)]
    assert recorded["members"][0]["sha256"] == recorded["members"][1]["sha256"]
    metrics = json.loads((workdir / "metrics.json").read_text())
    teacher_metrics = json.loads((teacher_run / "metrics.json").read_text())
    assert metrics["teacher"]["splits"]["validation"]["teacher"]["auc"] == pytest.approx(
        teacher_metrics["splits"]["validation"]["auc"], abs=1e-6)
    # a one-epoch student's int8 on 16 test images may miss the parity gate; the card is
    # what is checked here (the gate has its own tests)
    run_module("dfd.export", f"--workdir={workdir}", f"--out={tmp_path / 'export'}",
               "--calibration_examples=24", "--int8_max_auc_drop=1", "--int8_max_flip_rate=1")
    card = card_schema.read(str(tmp_path / "export" / "model_int8.tflite"))
    teacher = card["training"]["teacher"]
    assert teacher["combine"] == "mean" and len(teacher["members"]) == 2
    assert teacher["agreement"]["validation"] == \
        metrics["teacher"]["splits"]["validation"]["agreement"]


def not_a_run(tmp_path):
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def copy_of(teacher_run, folder, config_change=None, checkpoint=None):
    """`folder` holding the teacher's config.json (changed by `config_change`) and its
    best.keras (or the bytes `checkpoint`)."""
    folder.mkdir()
    config = json.loads((teacher_run / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **(config_change or {})}))
    (folder / "best.keras").write_bytes(
        checkpoint if checkpoint is not None else (teacher_run / "best.keras").read_bytes())
    return folder


def unreadable_config(tmp_path, teacher_run):
    folder = copy_of(teacher_run, tmp_path / "broken")
    (folder / "config.json").write_text('{"image_size": ')
    return folder


def other_size(tmp_path, teacher_run):
    """The teacher's checkpoint (32 px) under a config.json that says 48 px."""
    return copy_of(teacher_run, tmp_path / "resized", {"image_size": 48})


def damaged_checkpoint(tmp_path, teacher_run):
    data = (teacher_run / "best.keras").read_bytes()
    return copy_of(teacher_run, tmp_path / "damaged", checkpoint=data[: len(data) // 3])


def without_logit(tmp_path, teacher_run):
    """A Keras model of the right size that is not a dfd model: no `logit` layer."""
    import keras

    folder = copy_of(teacher_run, tmp_path / "foreign", checkpoint=b"")
    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Dense(1, activation="sigmoid", name="score")(
        keras.layers.GlobalAveragePooling2D()(inputs))
    keras.Model(inputs, outputs).save(folder / "best.keras")
    return folder


@pytest.mark.parametrize("make,flags,message", [
    (lambda tmp, run: tmp / "nope", [], "no such run folder"),
    (lambda tmp, run: not_a_run(tmp), [], "holds no best.keras or final.keras"),
    (unreadable_config, [], "config.json is unreadable"),
    (other_size, [], "best.keras takes (32, 32, 3), not the (48, 48, 3) its config.json says"),
    (damaged_checkpoint, [], "best.keras cannot be loaded as a Keras model"),
    (without_logit, [], "best.keras has no 'logit' layer"),
    (lambda tmp, run: f"{run},{other_size(tmp, run)}", [],
     "an ensemble's members share one input size"),
    (lambda tmp, run: f"{run},{run}", [], "names a run folder twice"),
    (lambda tmp, run: run, ["--distill_alpha=1.5"], "--distill_alpha must be in [0, 1]"),
    (lambda tmp, run: run, ["--distill_temperature=0"], "--distill_temperature must be"),
    (lambda tmp, run: run, ["--distill_temperature=nan"], "--distill_temperature must be"),
    (lambda tmp, run: run, ["--distribution=multi_worker"],
     "--teacher does not work with --distribution=multi_worker"),
], ids=["missing", "no_checkpoint", "bad_config", "other_size", "damaged", "not_dfd",
        "ensemble_sizes", "ensemble_twice", "alpha",
        "temperature", "nan", "multi_worker"])
def test_a_teacher_that_cannot_teach_is_refused_naming_the_flag(
        tiny_tfds, teacher_run, tmp_path, make, flags, message):
    teacher = make(tmp_path, teacher_run)
    workdir = tmp_path / "never"
    out = subprocess.run(train_cmd(tiny_tfds / "tfds", workdir, "--model=edgenet",
                                   f"--teacher={teacher}", *flags),
                         env=TF_ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert message in out.stderr, out.stderr[-2000:]
    if not flags:
        assert f"--teacher={teacher}" in out.stderr
        assert out.returncode == 2 and "Traceback" not in out.stderr
    assert not workdir.exists()


def test_one_teacher_folder_may_be_a_plain_string(teacher_run):
    from dfd.train import distill

    as_string, as_list = distill.find_teachers(str(teacher_run)), distill.find_teachers(
        [str(teacher_run)])
    assert [t.run_dir for t in as_string] == [t.run_dir for t in as_list] == [str(teacher_run)]


def test_a_run_cannot_teach_itself(tiny_tfds, teacher_run, tmp_path):
    """--teacher naming the --workdir would resume into the teacher's folder and replace its
    checkpoints with the student's: refused, the teacher's files untouched."""
    teacher = copy_of(teacher_run, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in teacher.iterdir()}
    out = subprocess.run(train_cmd(tiny_tfds / "tfds", teacher, "--model=edgenet",
                                   f"--teacher={teacher}"),
                         env=TF_ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    assert f"--teacher={teacher} names the --workdir" in out.stderr
    assert "Traceback" not in out.stderr
    assert {p.name: p.read_bytes() for p in teacher.iterdir()} == before
