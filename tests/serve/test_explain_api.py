"""`POST /api/classify?explain=1`: the heat map a page lays over its thumbnail."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from conftest import PATCH, encode, jpeg_bytes, patch_image
from dfd.lite.detector import Detector
from dfd.serve.app import create_app


@pytest.fixture(scope="module")
def detector(patch_models):
    return Detector(str(patch_models / "patch_int8.tflite"))


@pytest.fixture
def client(detector):
    return create_app(detector).test_client()


def post(client, data: bytes, query: str = "?explain=1"):
    return client.post("/api/classify" + query, data={"file": (io.BytesIO(data), "p.png")},
                       content_type="multipart/form-data")


def test_explain_adds_a_transparent_heat_layer_over_the_judged_crop(client, detector):
    photo = np.full((48, 32, 3), 90, np.uint8)  # taller than wide: the crop is its middle
    photo[8:40] = patch_image(4)
    data = encode(photo, "PNG")
    plain = post(client, data, "").get_json()
    body = post(client, data).get_json()
    assert "explain" not in plain
    assert list(body) == ["p_fake", "p_fake_raw", "verdict", "threshold", "ms", "model",
                          "explain"]
    assert body["p_fake"] == plain["p_fake"] == detector.classify_bytes(data).p_fake
    explain = body["explain"]
    assert explain["crop"] == [0, 8, 32, 40] and explain["grid"] == 8
    assert explain["hottest"] in ([2, 4], [2, 5], [3, 4], [3, 5])
    assert explain["png"].startswith("data:image/png;base64,")
    layer = np.asarray(Image.open(io.BytesIO(base64.b64decode(explain["png"].split(",")[1]))))
    assert layer.shape == (32, 32, 4)
    top, bottom, left, right = PATCH
    hot = layer[..., 3] > 0
    assert hot[top:bottom, left:right].all() and hot.sum() == (bottom - top) * (right - left)


def test_raw_body_can_be_explained_too(client):
    response = client.post("/api/classify?explain=yes", data=encode(patch_image(), "PNG"),
                           content_type="image/png")
    assert response.status_code == 200 and response.get_json()["explain"]["grid"] == 8


@pytest.mark.parametrize("value", ["maybe", "2", "explain"])
def test_a_bad_explain_value_is_a_400_naming_the_parameter(client, value):
    response = post(client, encode(patch_image(), "PNG"), f"?explain={value}")
    assert response.status_code == 400
    assert response.get_json()["error"] == f"explain must be 1 or 0, not {value!r}"


def test_a_bad_image_with_explain_gets_the_status_it_gets_without(client):
    broken = jpeg_bytes(40, 40)[:300]
    assert post(client, broken).status_code == post(client, broken, "").status_code == 422
    assert "truncated" in post(client, broken).get_json()["error"]
    assert post(client, encode(patch_image(), "PNG")).status_code == 200, \
        "and the next image is explained as usual"
