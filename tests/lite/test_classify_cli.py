"""`dfd-lite classify` as a device user runs it: JSON lines, bad files isolated, exit codes."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import jpeg_bytes, jpeg_claiming_size

pytestmark = pytest.mark.slow


def classify(*args, env=None, timeout=120):
    out = subprocess.run([sys.executable, "-m", "dfd.lite", "classify", *map(str, args)],
                         capture_output=True, text=True, timeout=timeout, env=env)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    return out.returncode, lines, out.stderr


@pytest.fixture
def mixed_folder(tmp_path, tiny_test_images):
    """Two real test images, then every kind of file a camera folder can hold."""
    folder = tmp_path / "photos"
    shutil.copytree(tiny_test_images / "Fake", folder / "a_fake")
    shutil.copytree(tiny_test_images / "Real", folder / "b_real")
    good = jpeg_bytes(40, 40)
    (folder / "c_truncated.jpg").write_bytes(good[: len(good) // 2])
    (folder / "d_not_an_image.jpg").write_bytes(b"%PDF-1.4 this is not a picture")
    (folder / "e_empty.png").write_bytes(b"")
    (folder / "f_bomb.jpg").write_bytes(jpeg_claiming_size(30000, 30000))
    (folder / "notes.txt").write_text("skipped: not image-like")
    return folder


def test_every_image_gets_a_line_and_bad_ones_do_not_stop_the_rest(tiny_export, mixed_folder):
    code, lines, err = classify(tiny_export / "model_int8.tflite", mixed_folder)
    assert code == 1, "some files failed, so the exit status must say so"
    by_name = {line["file"].split("/photos/")[1]: line for line in lines}
    assert "notes.txt" not in by_name
    good = [line for name, line in by_name.items() if name.startswith(("a_", "b_"))]
    assert len(good) == 16
    for line in good:
        assert 0.0 <= line["p_fake"] <= 1.0 and line["ms"] > 0
        assert line["verdict"] == ("fake" if line["p_fake"] >= line["threshold"] else "real")
    assert "truncated" in by_name["c_truncated.jpg"]["error"]
    assert "not an image" in by_name["d_not_an_image.jpg"]["error"]
    assert "empty" in by_name["e_empty.png"]["error"]
    assert "decompression bomb" in by_name["f_bomb.jpg"]["error"]
    assert list(by_name) == sorted(by_name), "folders are walked in a stable order"
    fakes = sum(line["verdict"] == "fake" for line in good)
    assert err.splitlines()[-1] == (
        f"dfd-lite: 16 classified ({fakes} fake, {16 - fakes} real), 4 failed; "
        f"model_int8.tflite (xnnpack kernels)")
    # Only dfd-lite's own lines (kernel choice, summary): LiteRT's "INFO: Created TensorFlow
    # Lite XNNPACK delegate for CPU." is held back unless DFD_FRAMEWORK_LOGS=1.
    assert all(line.startswith("dfd-lite: ") for line in err.splitlines()), err


def test_summary_scores_verdicts_against_fake_and_real_folders(tiny_export, tiny_test_images):
    code, lines, err = classify(tiny_export / "model_float32.tflite", tiny_test_images)
    assert code == 0 and len(lines) == 16
    right = sum(line["verdict"] == os.path.basename(os.path.dirname(line["file"])).lower()
                for line in lines)
    fakes = sum(line["verdict"] == "fake" for line in lines)
    assert err.splitlines()[-1] == (
        f"dfd-lite: 16 classified ({fakes} fake, {16 - fakes} real), 0 failed; "
        f"model_float32.tflite (xnnpack kernels); against Fake/Real folder names: "
        f"accuracy {right / 16:.4f} on 16")


def test_all_good_exits_zero_and_a_missing_file_is_named(tiny_export, tiny_test_images):
    image = next((tiny_test_images / "Fake").iterdir())
    code, lines, _ = classify(tiny_export / "model_float32.tflite", image)
    assert code == 0 and len(lines) == 1 and lines[0]["file"] == str(image)
    code, lines, _ = classify(tiny_export / "model_float32.tflite", image, "/nowhere/x.jpg")
    assert code == 1 and lines[1] == {"file": "/nowhere/x.jpg",
                                      "error": "cannot read: No such file or directory"}


def test_threshold_comes_from_the_model_card_or_the_command_line(tiny_export, tiny_test_images):
    image = next((tiny_test_images / "Real").iterdir())
    card = json.loads((tiny_export / "model.json").read_text())
    model = tiny_export / "model_float16.tflite"
    assert classify(model, image)[1][0]["threshold"] == 0.5
    eer = classify(model, image, "--threshold=eer_validation")[1][0]
    assert eer["threshold"] == card["thresholds"]["eer_validation"]
    assert classify(model, image, "--threshold=0.25")[1][0]["threshold"] == 0.25
    code, _, err = classify(model, image, "--threshold=lenient")
    assert code == 2 and "'lenient'" in err
    code, _, err = classify(model, image, "--threshold=7")
    assert code == 2 and "argument --threshold: must be a number from 0 to 1" in err


def test_unusable_model_exits_2_naming_it(tmp_path, tiny_test_images):
    code, lines, err = classify(tmp_path / "missing.tflite", tiny_test_images)
    assert code == 2 and not lines and f"{tmp_path}/missing.tflite does not exist" in err
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer")
    code, _, err = classify(junk, tiny_test_images)
    assert code == 2 and f"{junk} is not a loadable TFLite model" in err


NO_TENSORFLOW = """
import sys
for name in ("tensorflow", "keras", "tensorflow_datasets", "absl", "dfd.train", "dfd.evaluate",
             "dfd.cli", "dfd.export", "flask"):
    sys.modules[name] = None  # `import name` now raises ImportError
import runpy
sys.argv = ["dfd-lite"] + sys.argv[1:]
try:
    runpy.run_module("dfd.lite", run_name="__main__")
finally:
    loaded = sorted(m for m, module in sys.modules.items()
                    if module is not None and m.split(".")[0] in ("tensorflow", "keras"))
    print("LOADED", loaded, file=sys.stderr)
"""


def test_runtime_classifies_where_tensorflow_cannot_be_imported(tiny_export, tiny_test_images):
    out = subprocess.run([sys.executable, "-c", NO_TENSORFLOW, "classify",
                          str(tiny_export / "model_int8.tflite"), str(tiny_test_images)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(out.stdout.splitlines()) == 16
    assert "LOADED []" in out.stderr


def test_hostile_files_each_get_their_own_error(tiny_export, tmp_path):
    """Every crafted hostile class among good images: one line each, no traceback, the
    summary printed, the good image after them still classified."""
    from support import hostile
    folder = tmp_path / "hostile"
    folder.mkdir()
    cases = hostile.cases()
    for case in cases:
        (folder / f"{case.name}.png").write_bytes(case.data)
    (folder / "zz_good.jpg").write_bytes(jpeg_bytes(40, 40))
    code, lines, stderr = classify(tiny_export / "model_int8.tflite", folder)
    by_name = {line["file"].rsplit("/", 1)[1]: line for line in lines}
    assert "Traceback" not in stderr and "classified" in stderr
    assert code == 1 and len(lines) == len(cases) + 1
    for case in cases:
        assert case.words in by_name[f"{case.name}.png"]["error"].lower(), case.name
    assert "p_fake" in by_name["zz_good.jpg"]


def test_fifo_gets_its_error_without_waiting_for_a_writer(tiny_export, tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    good = tmp_path / "good.jpg"
    good.write_bytes(jpeg_bytes(40, 40))
    code, lines, stderr = classify(tiny_export / "model_int8.tflite", fifo, good, timeout=60)
    assert code == 1 and "Traceback" not in stderr
    assert "FIFO" in lines[0]["error"] and "p_fake" in lines[1]


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_endless_device_is_refused_unread(tiny_export, tmp_path):
    good = tmp_path / "good.jpg"
    good.write_bytes(jpeg_bytes(40, 40))
    code, lines, stderr = classify(tiny_export / "model_int8.tflite", "/dev/zero", good,
                                   timeout=60)
    assert code == 1 and "Traceback" not in stderr
    assert "character device" in lines[0]["error"] and "p_fake" in lines[1]


def test_file_over_the_size_cap_is_refused_unread(tiny_export, tmp_path):
    big = tmp_path / "big.jpg"
    big.write_bytes(jpeg_bytes(40, 40) + b"\0" * (2 * 1024 * 1024))
    code, lines, _ = classify(tiny_export / "model_int8.tflite", big, "--max_file_mb=1")
    assert code == 1 and "over the 1048576 byte limit" in lines[0]["error"]
