"""The upload page and API through Flask's test client: statuses, messages, nothing on disk."""

import concurrent.futures
import io
import json
import os
import re
import shutil
import tempfile

import pytest

from conftest import encode, jpeg_bytes, jpeg_claiming_size, textured_rgb
from dfd.lite.detector import Detector
from dfd.serve.app import create_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def detector(tiny_export):
    return Detector(str(tiny_export / "model_int8.tflite"))


@pytest.fixture
def client(detector):
    return create_app(detector).test_client()


@pytest.fixture
def no_disk(tmp_path, monkeypatch):
    """Temporary files go to an empty folder, and creating one fails the test outright."""
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))

    def refuse(*args, **kwargs):
        raise AssertionError("an upload was about to be written to a temporary file")
    for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    before = set(os.listdir("."))
    yield spool
    assert not list(spool.iterdir()) and set(os.listdir(".")) == before


def post_file(client, data: bytes, name: str = "face.jpg", path: str = "/api/classify"):
    return client.post(path, data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_good_jpeg_and_png_get_a_verdict(client, detector, no_disk):
    for data in (jpeg_bytes(80, 60), encode(textured_rgb(50, 50, seed=3), "PNG")):
        response = post_file(client, data)
        assert response.status_code == 200
        body = response.get_json()
        assert set(body) == {"p_fake", "verdict", "threshold", "model", "ms"}
        assert body["p_fake"] == pytest.approx(detector.classify_bytes(data).p_fake)
        assert body["verdict"] == ("fake" if body["p_fake"] >= body["threshold"] else "real")
        assert body["model"]["name"] == "dfdnet" and body["model"]["precision"] == "int8"


def test_raw_body_is_accepted_whatever_its_content_type(client, no_disk):
    for content_type in ("image/jpeg", "application/octet-stream",
                         "application/x-www-form-urlencoded"):
        response = client.post("/api/classify", data=jpeg_bytes(40, 40),
                               content_type=content_type)
        assert response.status_code == 200, content_type


@pytest.mark.parametrize("data,status,message", [
    (b"", 400, "empty file"),
    (b"GIF89a? not really" + b"\0" * 50, 415, "not an image"),
    (b"%PDF-1.7\n" + b"x" * 200, 415, "not an image"),
    (jpeg_bytes(64, 64)[:300], 422, "truncated"),
    (jpeg_claiming_size(40000, 40000), 413, "decompression bomb"),
    (jpeg_claiming_size(7000, 7000), 413, "decompression bomb"),
])
def test_bad_uploads_get_their_status_and_a_message(client, no_disk, data, status, message):
    for response in (post_file(client, data),
                     client.post("/api/classify", data=data, content_type="image/jpeg")):
        assert response.status_code == status
        body = response.get_json()
        assert message in body["error"] and body["status"] == status
        assert "Traceback" not in response.get_data(as_text=True)


def test_oversize_upload_is_refused_with_413(client, no_disk):
    response = client.post("/api/classify", data=b"\xff" * (10 * 1024 * 1024 + 1),
                           content_type="image/jpeg")
    assert response.status_code == 413
    assert "10 MB" in response.get_json()["error"]


def test_large_upload_under_the_cap_stays_in_memory(client, no_disk):
    noisy = encode(textured_rgb(1200, 1200, seed=4), "PNG")
    assert len(noisy) > 1024 * 1024  # well past Werkzeug's 500 KB spooling threshold
    assert post_file(client, noisy).status_code == 200


@pytest.mark.parametrize("name", ["../../../../tmp/dfd-owned.jpg", "/tmp/dfd-owned.jpg",
                                  "..\\..\\dfd-owned.jpg", "x/../../dfd-owned.jpg"])
def test_path_like_file_names_write_nothing(client, no_disk, name):
    response = post_file(client, jpeg_bytes(40, 40), name=name)
    assert response.status_code == 200
    assert not os.path.exists("/tmp/dfd-owned.jpg") and not os.path.exists("../dfd-owned.jpg")


def test_multipart_without_the_file_field_is_explained(client):
    response = client.post("/api/classify", data={"photo": (io.BytesIO(b"x"), "a.jpg")},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and '"file"' in response.get_json()["error"]


def test_unexpected_failure_is_a_500_message_not_a_traceback(detector, monkeypatch):
    client = create_app(detector).test_client()
    monkeypatch.setattr(detector, "classify_bytes",
                        lambda data: (_ for _ in ()).throw(RuntimeError("secret internals")))
    response = client.post("/api/classify", data=jpeg_bytes(), content_type="image/jpeg")
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "internal error" in text and "secret internals" not in text
    assert "Traceback" not in text


def test_health_and_page_name_the_model(client):
    health = client.get("/healthz").get_json()
    assert health["status"] == "ok" and health["model"]["file"] == "model_int8.tflite"
    page = client.get("/").get_data(as_text=True)
    assert "dfdnet" in page and 'type="file"' in page and "multiple" in page


def test_health_and_page_footer_say_which_kernels_run_and_why(client, tiny_export, tmp_path):
    check = client.get("/healthz").get_json()["model"]["kernel_check"]
    assert check["kernels"] == "xnnpack" and "reproduced all 6 golden vectors" in check["reason"]
    footer = re.search(r'<footer id="kernels"[^>]*>(.*?)</footer>',
                       client.get("/").get_data(as_text=True), re.S).group(1)
    assert "xnnpack kernels" in footer and "reproduced all 6 golden vectors" in footer
    for name in ("model_int8.tflite", "model.json", "golden_inputs.npy"):
        shutil.copy(tiny_export / name, tmp_path / name)
    card = json.loads((tmp_path / "model.json").read_text())
    card["golden"]["outputs"]["model_int8.tflite"]["values"][1][0] += 9
    (tmp_path / "model.json").write_text(json.dumps(card))
    fallback = create_app(Detector(str(tmp_path / "model_int8.tflite"))).test_client()
    check = fallback.get("/healthz").get_json()["model"]["kernel_check"]
    assert check["kernels"] == "builtin" and "failed the golden check" in check["reason"]
    page = fallback.get("/").get_data(as_text=True)
    assert 'data-kernels="builtin"' in page and "golden input 1" in page


def test_page_form_without_javascript_lists_each_result(client, no_disk):
    response = client.post("/", data={"file": [(io.BytesIO(jpeg_bytes(40, 40)), "ok.jpg"),
                                               (io.BytesIO(b"nope"), "<script>x</script>.jpg")]},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "ok.jpg" in page and "not an image" in page
    assert "<script>x</script>" not in page, "client file names must be escaped"
    assert len(re.findall(r'class="result (fake|real|failed)"', page)) == 2


def test_one_detector_serves_many_threads_with_identical_answers(client):
    images = [jpeg_bytes(48, 48, seed=s) for s in range(4)]
    expected = [post_file(client, data).get_json()["p_fake"] for data in images]

    def ask(i):
        return post_file(client, images[i % 4]).get_json()["p_fake"]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, range(160)))
    assert answers == [expected[i % 4] for i in range(160)]


def test_api_answer_keeps_its_field_order(client, no_disk):
    """p_fake first, as built: Flask would sort the keys unless app.json says not to."""
    response = post_file(client, jpeg_bytes(40, 40))
    keys = re.findall(r'"(\w+)":', response.get_data(as_text=True))
    assert keys[:4] == ["p_fake", "verdict", "threshold", "ms"] and "model" in keys


def test_hostile_images_through_the_real_detector_get_their_status(client, no_disk):
    from support import hostile
    for case in hostile.cases():
        response = client.post("/api/classify", data=case.data, content_type="image/png")
        assert response.status_code == case.status, case.name
        assert case.words in response.get_json()["error"].lower(), case.name


@pytest.mark.integration
def test_api_and_page_judge_each_face_and_a_bad_upload_spoils_nothing(tiny_export, shared_set):
    """The API answers what dfd-lite prints with faces on; the no-JavaScript page lists each
    face; a broken upload between two photos gets its own error."""
    import numpy as np
    from PIL import Image

    from support import face_photos

    crops = [Image.open(sorted((shared_set(name) / "Test" / "Fake").iterdir())[0])
             .convert("RGB") for name in face_photos.SETS]
    photo, truths = face_photos.compose(np.random.default_rng(5), crops, 1600, 1200, [180, 260])
    data = face_photos.jpeg(photo)
    with_faces = Detector(str(tiny_export / "model_int8.tflite"), faces="auto")
    client = create_app(with_faces).test_client()
    expected = with_faces.classify_bytes(data).as_dict()
    assert post_file(client, jpeg_bytes(40, 40)[:100]).status_code == 422
    body = post_file(client, data).get_json()
    assert body["judged"] == "faces" and len(body["faces"]) == len(truths)
    assert body["faces"] == expected["faces"] and body["p_fake"] == expected["p_fake"]
    assert body["model"]["faces"] == "auto"
    assert body["model"]["face_detector"]["variant"] == "full_range"
    page = client.post("/", data={"file": [(io.BytesIO(data), "group.jpg"),
                                           (io.BytesIO(b"junk"), "junk.jpg")]},
                       content_type="multipart/form-data").get_data(as_text=True)
    assert page.count('class="face-line') == len(truths) and "judged: faces" in page
    assert "not an image" in page
