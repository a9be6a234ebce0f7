"""Whole photos with faces from the shared sets: every face found and judged as its crop.

Photos are composed at test time from a few real face crops of ../shared/data (nothing is
copied into the repo): 1 to 5 faces at different sizes and places on backgrounds up to 12
megapixels, and photos with no face. The bundle is the tiny trained export, which carries
the face detector like every export.
"""

import io
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import SHARED_DATA
from support import face_photos
from dfd.common import verdicts
from dfd.lite.detector import Detector, ModelError

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LAYOUTS = [  # (width, height, training-square sizes of the pasted faces)
    (1024, 768, [200]),
    (2048, 1536, [96, 300]),
    (1600, 1200, [64, 128, 256]),
    (4000, 3000, [90, 180, 400, 700]),
    (3000, 2000, [80, 110, 150, 240, 500]),
]


@pytest.fixture(scope="module")
def face_crops():
    """The first two test-split images of each class of both shared sets."""
    crops = []
    for name in face_photos.SETS:
        root = SHARED_DATA / name / "Dataset"
        if not root.is_dir():
            pytest.skip(f"shared data set {root} is absent (set DFD_SHARED_DATA)")
        for label in face_photos.CLASSES:
            crops += [Image.open(p).convert("RGB")
                      for p in sorted((root / "Test" / label).iterdir())[:2]]
    return crops


@pytest.fixture(scope="module")
def photos(face_crops):
    rng = np.random.default_rng(7)
    made = []
    for index, (width, height, sizes) in enumerate(LAYOUTS):
        faces = [face_crops[(index + i) % len(face_crops)] for i in range(len(sizes))]
        made.append(face_photos.compose(rng, faces, width, height, sizes))
    return made


@pytest.fixture(scope="module")
def detector(tiny_export):
    return Detector(str(tiny_export / "model_int8.tflite"), threads=1, faces="on")


def test_the_export_bundles_the_face_detector(tiny_export):
    card = json.loads((tiny_export / "model.json").read_text())
    entry = card["face_detector"]
    assert (tiny_export / entry["file"]).is_file() and len(entry["sha256"]) == 64
    assert entry["input_size"] == [192, 192] and entry["anchors"]["strides"] == [4]
    assert entry["crop"]["side_over_box"] > 1


def test_every_pasted_face_is_found_where_it_was_pasted(detector, photos):
    for photo, truths in photos:
        answer = detector.classify_bytes(face_photos.jpeg(photo))
        crops = [face["crop"] for face in answer.faces]
        best, false = face_photos.match(crops, truths)
        assert min(best) >= 0.5, (photo.size, truths, answer.faces)
        assert not false, (photo.size, [answer.faces[i] for i in false])
        assert answer.judged == "faces"
        for face in answer.faces:
            x0, y0, x1, y1 = face["box"]
            assert 0 <= x0 < x1 <= photo.width and 0 <= y0 < y1 <= photo.height


def test_faces_in_a_png_with_alpha_are_found_without_converting_the_photo_whole(
        detector, photos, monkeypatch):
    """An RGBA PNG decodes to RGBA; the search reads a reduced RGB copy made strip by strip
    and crops convert only their rows, so no RGB copy of the whole photo is ever made (a
    40 MP one is 160 MB, BUILD_NOTES "Faces on the largest images")."""
    from dfd.imaging import gate
    from dfd.common import preprocess
    from dfd.lite.faces import reduced
    converted, original = [], gate.to_rgb

    def recording(image):
        converted.append(image.width * image.height)
        return original(image)
    for module in (gate, reduced, preprocess):
        monkeypatch.setattr(module, "to_rgb", recording)
    photo, truths = photos[3]  # 4000 x 3000, four faces
    out = io.BytesIO()
    photo.convert("RGBA").save(out, format="PNG")
    answer = detector.classify_bytes(out.getvalue())
    best, false = face_photos.match([face["crop"] for face in answer.faces], truths)
    assert min(best) >= 0.5 and not false, (truths, answer.faces)
    assert max(converted) <= photo.width * photo.height // 8


@pytest.mark.parametrize("size", [(800, 600), (4000, 3000)])
def test_no_face_is_reported_on_a_photo_without_one(detector, size):
    for seed in range(3):
        photo = face_photos.background(np.random.default_rng(seed), *size)
        answer = detector.classify_bytes(face_photos.jpeg(photo))
        assert answer.faces == () and answer.verdict == "no face" and answer.p_fake is None


def test_each_faces_p_fake_is_the_classifiers_answer_on_its_crop_alone(tiny_export, photos):
    with_faces = Detector(str(tiny_export / "model_int8.tflite"), threads=1, faces="on")
    whole = Detector(str(tiny_export / "model_int8.tflite"), threads=1, faces="off")
    step = with_faces._output["quantization"][0]
    for photo, _ in photos[:3]:
        data = face_photos.jpeg(photo)
        decoded = Image.open(io.BytesIO(data)).convert("RGB")
        answer = with_faces.classify_bytes(data)
        for face in answer.faces:
            out = io.BytesIO()
            decoded.crop(tuple(face["crop"])).save(out, format="PNG")
            alone = whole.classify_bytes(out.getvalue()).p_fake_raw
            assert abs(face["p_fake_raw"] - alone) <= step + 1e-9, (face, alone)
        assert answer.p_fake == max(face["p_fake"] for face in answer.faces)


def run_cli(*args):
    out = subprocess.run([sys.executable, "-m", "dfd.lite", "classify", *map(str, args)],
                         capture_output=True, text=True, timeout=300)
    return out.returncode, [json.loads(line) for line in out.stdout.splitlines()], out.stderr


def test_cli_says_what_it_judged_and_falls_back_to_the_whole_image(tiny_export, photos,
                                                                   tmp_path):
    photo, truths = photos[2]
    photo.save(tmp_path / "group.jpg", quality=92)
    face_photos.background(np.random.default_rng(1), 640, 480).save(tmp_path / "wall.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    model = tiny_export / "model_int8.tflite"
    code, lines, err = run_cli(model, tmp_path, "--threads=1")
    assert code == 1
    by_name = {line["file"].rsplit("/", 1)[1]: line for line in lines}
    assert "error" in by_name["broken.jpg"]
    group = by_name["group.jpg"]
    assert group["judged"] == "faces" and len(group["faces"]) == len(truths)
    assert set(group["faces"][0]) == {"box", "score", "p_fake", "p_fake_raw", "verdict",
                                      "crop"}
    wall = by_name["wall.jpg"]
    assert wall["judged"] == "whole image" and wall["faces"] == []
    assert wall["note"] == verdicts.OUT_OF_DOMAIN and "note" not in group
    assert "no face found in 1: judged as whole image, out of the model's domain" in err
    assert 0 <= wall["p_fake"] <= 1
    code, lines, err = run_cli(model, tmp_path / "wall.jpg", "--faces=on")
    assert code == 0 and lines[0]["verdict"] == "no face" and "1 with no face" in err
    code, lines, _ = run_cli(model, tmp_path / "group.jpg", "--faces=off")
    assert code == 0 and "faces" not in lines[0] and "judged" not in lines[0]


def test_a_bundle_without_a_detector_refuses_faces_on_and_auto_judges_whole(tiny_export,
                                                                             tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copy(tiny_export / "model_int8.tflite", bundle)
    card = json.loads((tiny_export / "model.json").read_text())
    card.pop("face_detector")
    (bundle / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="no face detector"):
        Detector(str(bundle / "model_int8.tflite"), faces="on")
    auto = Detector(str(bundle / "model_int8.tflite"), faces="auto")
    scene = face_photos.background(np.random.default_rng(0), 64, 64)
    answer = auto.classify_bytes(face_photos.jpeg(scene))
    assert answer.judged == "whole image" and "no face detector" in auto.face_note


def test_a_detector_file_left_behind_is_said_under_auto_and_refused_under_on(tiny_export,
                                                                              tmp_path):
    """A .tflite copied with model.json and golden_inputs.npy only, as before faces."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for name in ("model_int8.tflite", "model.json", "golden_inputs.npy"):
        shutil.copy(tiny_export / name, bundle)
    auto = Detector(str(bundle / "model_int8.tflite"), faces="auto")
    assert auto.face_finder is None and "does not exist: whole images" in auto.face_note
    with pytest.raises(ModelError, match="does not exist"):
        Detector(str(bundle / "model_int8.tflite"), faces="on")
    code, lines, err = run_cli(bundle / "model_int8.tflite", bundle / "model.json")
    assert "dfd-lite: face detector" in err and "whole images are judged" in err


def test_a_damaged_detector_file_is_named(tiny_export, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_export, bundle, ignore=shutil.ignore_patterns("saved_model"))
    name = json.loads((bundle / "model.json").read_text())["face_detector"]["file"]
    (bundle / name).write_bytes(b"not a model")
    with pytest.raises(ModelError, match="sha256"):
        Detector(str(bundle / "model_int8.tflite"), faces="auto")


def test_running_out_of_memory_in_the_face_search_is_that_files_error(tiny_export, photos,
                                                                      monkeypatch, tmp_path):
    from dfd.lite.__main__ import classify_one

    detector = Detector(str(tiny_export / "model_int8.tflite"), threads=1, faces="auto")
    real_find = detector.face_finder.find
    calls = []

    def find(image):
        calls.append(image.size)
        if len(calls) == 1:
            raise MemoryError
        return real_find(image)
    monkeypatch.setattr(detector.face_finder, "find", find)
    for name, (photo, _) in zip(("a.jpg", "b.jpg"), photos[:2]):
        photo.save(tmp_path / name)
    first = classify_one(detector, str(tmp_path / "a.jpg"), 10 * 2**20)
    second = classify_one(detector, str(tmp_path / "b.jpg"), 10 * 2**20)
    assert "not enough memory" in first["error"]
    assert second["judged"] == "faces" and len(second["faces"]) == 2


def test_explain_draws_one_map_per_judged_face(detector, photos, tmp_path):
    """With faces judged, --explain explains each face's own crop (not the photo's centre):
    one PNG per face, named by face, its unmasked score the face's P(fake)."""
    from dfd.lite import __main__ as cli
    from dfd.lite.explain import Explainer

    photo, truths = photos[1]
    path = tmp_path / "two.jpg"
    photo.save(path, quality=92)
    (tmp_path / "maps").mkdir()
    line = cli.classify_one(detector, str(path), 50 << 20, Explainer(detector, grid=4),
                            str(tmp_path / "maps"))
    assert line["judged"] == "faces" and len(line["faces"]) == len(truths)
    assert "explain" not in line, "the photo's own centre was not what was judged"
    names = set()
    for index, face in enumerate(line["faces"]):
        entry = face["explain"]
        assert entry["crop"] == face["crop"] and entry["png"].endswith(f"-face{index}.png")
        assert (tmp_path / "maps" / entry["png"].split("/")[-1]).stat().st_size > 0
        names.add(entry["png"])
    assert len(names) == len(truths)
    verdict = detector.classify_bytes(path.read_bytes())
    assert [f["p_fake"] for f in line["faces"]] == [f["p_fake"] for f in verdict.faces]


def test_explain_maps_each_face_on_the_very_input_it_was_judged_on(detector, photos,
                                                                   monkeypatch):
    """Each face is cut and resampled once: its map's pixels are the crop its verdict came
    from (cutting it again cost ~5 ms a face on a 1 MP photo)."""
    from dfd.lite.explain import Explainer

    photo, truths = photos[1]
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=92)
    cuts = []
    crop_pixels = detector.crop_pixels
    monkeypatch.setattr(detector, "crop_pixels",
                        lambda image, crop: cuts.append(crop) or crop_pixels(image, crop))
    verdict, heats = Explainer(detector, grid=4).explain_bytes(buffer.getvalue())
    assert verdict.judged == "faces" and len(heats) == len(verdict.faces) == len(truths)
    assert cuts == [face["crop"] for face in verdict.faces]
    for face, heat in zip(verdict.faces, heats):
        assert list(heat.crop) == face["crop"] and heat.pixels.dtype == np.uint8
        assert heat.p_fake == pytest.approx(face["p_fake_raw"], abs=1e-6)
