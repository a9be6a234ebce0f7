"""`dfd-score` answers exactly as `dfd-lite classify` does, file for file, on Beam."""

import glob
import json
import os
import shutil
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from conftest import jpeg_bytes, jpeg_claiming_size
from dfd.common.checksums import sha256_file
from dfd.imaging.gate import ImageError
from dfd.score import __main__ as score_cli
from dfd.score.handler import DetectorHandler, LoadedModel

TWO_PROCESSES = ("--runner=DirectRunner", "--direct_num_workers=2",
                 "--direct_running_mode=multi_processing")


@pytest.fixture
def mixed_folder(tmp_path, tiny_test_images):
    """The tiny test split's images and one file of each kind the gate refuses."""
    folder = tmp_path / "photos"
    shutil.copytree(tiny_test_images, folder / "split")
    good = jpeg_bytes(40, 40)
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (folder / "not_an_image.jpg").write_bytes(b"%PDF-1.4 this is not a picture")
    (folder / "empty.png").write_bytes(b"")
    (folder / "bomb.jpg").write_bytes(jpeg_claiming_size(30000, 30000))
    return folder


def dfd_lite(model, folder) -> dict:
    out = subprocess.run([sys.executable, "-m", "dfd.lite", "classify", str(model), str(folder)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stderr[-2000:]
    return {line["file"]: line for line in map(json.loads, out.stdout.splitlines())}


def dfd_score(model, folder, prefix, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dfd.score", f"--model={model}",
                           f"--input={folder}/**", f"--output={prefix}", *args],
                          capture_output=True, text=True, timeout=600)


def records(pattern: str) -> dict:
    found = {}
    for path in sorted(glob.glob(pattern)):
        parquet = path.endswith(".parquet")
        rows = (pq.read_table(path).to_pylist() if parquet else
                [json.loads(line) for line in open(path)])
        for row in rows:
            if parquet:  # the exact name; `file` there is UTF-8 with U+FFFD for the rest
                assert row["file"] == row["file_bytes"].decode("utf-8", "replace")
                row["file"] = os.fsdecode(row["file_bytes"])
            assert row["file"] not in found, f"{row['file']} answered twice"
            found[row["file"]] = row
    return found


def assert_same_answers(lite: dict, scored: dict, sha256: str):
    assert sorted(scored) == sorted(lite), "a file was dropped or added"
    for file, expected in lite.items():
        got = scored[file]
        assert got["model_sha256"] == sha256
        if "error" in expected:
            assert got["error"] == expected["error"], file
        else:
            assert got.get("error") is None, (file, got)
            assert (got["p_fake"], got["verdict"], got["threshold"]) == (
                expected["p_fake"], expected["verdict"], expected["threshold"]), file
            assert (got.get("judged"), got.get("faces")) == (
                expected.get("judged"), expected.get("faces")), file


@pytest.mark.slow
def test_two_worker_processes_answer_as_dfd_lite_file_for_file(tiny_export, mixed_folder,
                                                               tmp_path):
    model = tiny_export / "model_int8.tflite"
    lite = dfd_lite(model, mixed_folder)
    assert sum("error" in r for r in lite.values()) == 4 and len(lite) == 20
    out = dfd_score(model, mixed_folder, tmp_path / "out" / "scores", *TWO_PROCESSES)
    assert out.returncode == 1, out.stderr[-3000:]
    assert_same_answers(lite, records(str(tmp_path / "out" / "scores-*.jsonl")),
                        sha256_file(str(model)))
    assert "16 classified" in out.stderr and "4 failed" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_parquet_output_holds_the_same_answers(tiny_export, mixed_folder, tmp_path, capsys):
    model = tiny_export / "model_float32.tflite"
    code = score_cli.main([f"--model={model}", f"--input={tmp_path}/nowhere/*.jpg",
                           f"--output={tmp_path}/none"])
    assert code == 2 and "nowhere/*.jpg matches no file" in capsys.readouterr().err
    lite = dfd_lite(model, mixed_folder)
    out = dfd_score(model, mixed_folder, tmp_path / "pq", "--format=parquet",
                    "--runner=DirectRunner")
    assert out.returncode == 1, out.stderr[-3000:]
    assert_same_answers(lite, records(str(tmp_path / "pq-*.parquet")), sha256_file(str(model)))


class Exploding:
    """A detector whose decoder fails in ways no caller expects."""
    threshold = 0.5

    def classify_bytes(self, data):
        if data == b"gate":
            raise ImageError("corrupt or truncated image: boom")
        raise RuntimeError("interpreter fell over")


def test_one_files_failure_is_its_own_record_and_the_batch_goes_on():
    handler = DetectorHandler("unused.tflite")
    results = handler.run_inference(
        [("a.jpg", b"gate", None), ("b.jpg", b"other", None), ("c.jpg", None, "empty file")],
        LoadedModel(Exploding(), "f" * 64))
    answers = [r.inference for r in results]
    assert [r.example for r in results] == ["a.jpg", "b.jpg", "c.jpg"]
    assert answers[0] == [{"file": "a.jpg", "error": "corrupt or truncated image: boom",
                           "model_sha256": "f" * 64}]
    assert "RuntimeError: interpreter fell over" in answers[1][0]["error"]
    assert answers[2][0]["error"] == "empty file"


@pytest.fixture
def every_kind_of_entry(tmp_path):
    """One folder with each kind of entry a glob can match (issue 25, cases 4 to 6)."""
    folder = tmp_path / "entries"
    folder.mkdir()
    good = jpeg_bytes(40, 40)
    (folder / "good.jpg").write_bytes(good)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_bytes(b"not a picture")
    (folder / ".hidden.jpg").write_bytes(good)
    with open(os.path.join(os.fsencode(folder), b"caf\xe9-latin1.jpg"), "wb") as f:
        f.write(good)  # a name that is not UTF-8
    (folder / "caf\u00e9-utf8.jpg").write_bytes(good)
    (folder / "dangling.jpg").symlink_to(folder / "gone.jpg")
    (folder / "loop.jpg").symlink_to(folder / "loop.jpg")
    (folder / "link_to_good.jpg").symlink_to(folder / "good.jpg")
    os.mkfifo(folder / "fifo.jpg")
    (folder / "sub").mkdir()
    (folder / "sub" / "inner.jpg").write_bytes(good)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_every_entry_a_glob_matches_is_answered_as_dfd_lite_answers_it(
        tiny_export, every_kind_of_entry, tmp_path, fmt):
    model = tiny_export / "model_int8.tflite"
    entries = sorted(glob.glob(f"{every_kind_of_entry}/**", recursive=True,
                               include_hidden=True), key=os.fsencode)
    files = [e for e in entries if not (os.path.isdir(e) and not os.path.islink(e))]
    out = subprocess.run([sys.executable, "-m", "dfd.lite", "classify", str(model), *files],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
    lite = {line["file"]: line for line in map(json.loads, out.stdout.splitlines())}
    assert len(lite) == len(files) == 11
    assert "No such file" in lite[str(every_kind_of_entry / "dangling.jpg")]["error"]
    assert "symbolic links" in lite[str(every_kind_of_entry / "loop.jpg")]["error"]
    scored = dfd_score(model, every_kind_of_entry, tmp_path / "out" / "scores",
                       f"--format={fmt}", "--runner=DirectRunner")
    assert scored.returncode == 1 and "Traceback" not in scored.stderr, scored.stderr[-3000:]
    assert_same_answers(lite, records(str(tmp_path / "out" / f"scores-*.{fmt}")),
                        sha256_file(str(model)))


def test_unusable_model_exits_2_naming_it(tmp_path, capsys, tiny_test_images):
    bad_model = tmp_path / "model.tflite"
    bad_model.write_bytes(b"not a flatbuffer")
    code = score_cli.main([f"--model={bad_model}", f"--input={tmp_path}/*.jpg",
                           f"--output={tmp_path}/out"])
    assert code == 2 and str(bad_model) in capsys.readouterr().err
    assert not list(tmp_path.glob("out*"))


@pytest.mark.slow
@pytest.mark.integration
def test_faces_are_judged_as_dfd_lite_judges_them(tiny_export, shared_set, tmp_path):
    """A photo with people: every face with its box, score and P(fake), as dfd-lite says,
    in JSON lines and in Parquet; a photo without a face is judged whole (auto)."""
    import numpy as np
    from PIL import Image

    from support import face_photos

    crops = [Image.open(sorted((shared_set(name) / "Test" / "Real").iterdir())[0])
             .convert("RGB") for name in face_photos.SETS]
    folder = tmp_path / "photos"
    folder.mkdir()
    photo, truths = face_photos.compose(np.random.default_rng(5), crops, 1200, 900, [220, 300])
    photo.save(folder / "two_people.jpg", quality=92)
    Image.fromarray(np.full((300, 400, 3), 90, np.uint8)).save(folder / "wall.jpg")
    model = tiny_export / "model_int8.tflite"
    out = subprocess.run([sys.executable, "-m", "dfd.lite", "classify", str(model),
                          str(folder)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lite = {line["file"]: line for line in map(json.loads, out.stdout.splitlines())}
    people = lite[str(folder / "two_people.jpg")]
    assert people["judged"] == "faces" and len(people["faces"]) == len(truths)
    assert lite[str(folder / "wall.jpg")]["judged"] == "whole image"
    for fmt in ("jsonl", "parquet"):
        scored = dfd_score(model, folder, tmp_path / fmt / "scores", f"--format={fmt}",
                           "--runner=DirectRunner")
        assert scored.returncode == 0, scored.stderr[-3000:]
        assert_same_answers(lite, records(str(tmp_path / fmt / f"scores-*.{fmt}")),
                            sha256_file(str(model)))
