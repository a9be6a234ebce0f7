"""Occlusion heat maps: they point at the pixels that drive the score, on x86 and in int8."""

import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import PATCH, encode, jpeg_bytes, patch_image, textured_rgb
from dfd.lite import explain
from dfd.lite.detector import Detector

PATCH_CELLS_8 = {(2, 4), (2, 5), (3, 4), (3, 5)}


def patch_scorer(batch: np.ndarray) -> np.ndarray:
    """A stand-in classifier: P(fake) from the mean brightness of PATCH alone."""
    top, bottom, left, right = PATCH
    mean = batch[:, top:bottom, left:right].astype(np.float64).mean(axis=(1, 2, 3))
    return 1.0 / (1.0 + np.exp(-(10.0 * mean / 255.0 - 5.0)))


def test_grey_is_the_middle_of_the_contract_range_and_cells_tile_the_input():
    assert explain.GREY == 128
    for size, grid in ((128, 8), (32, 8), (30, 8), (224, 7)):
        edges = explain.cell_edges(size, grid)
        assert edges[0] == 0 and edges[-1] == size and len(edges) == grid + 1
        assert set(np.diff(edges)) <= {size // grid, size // grid + 1}


def test_each_masked_copy_greys_exactly_its_own_cell():
    pixels = textured_rgb(30, 30, seed=2)
    copies = explain.masked_copies(pixels, grid=4)
    assert copies.shape == (16, 30, 30, 3) and copies.dtype == np.uint8
    covered = np.zeros((30, 30), int)
    for number, copy in enumerate(copies):
        changed = np.any(copy != pixels, axis=-1) | np.all(copy == explain.GREY, axis=-1)
        row, col = divmod(number, 4)
        edges = explain.cell_edges(30, 4)
        inside = np.zeros((30, 30), bool)
        inside[edges[row]:edges[row + 1], edges[col]:edges[col + 1]] = True
        assert np.all(copy[inside] == explain.GREY)
        assert np.array_equal(copy[~inside], pixels[~inside]) and not changed[~inside].any()
        covered += inside
    assert np.all(covered == 1), "every pixel is greyed in exactly one copy"


def test_stand_in_scorer_map_is_hot_on_the_patch_and_cold_elsewhere():
    p_fake, p_masked = explain.occlusion(patch_scorer, patch_image(), grid=8)
    heat = explain.HeatMap(patch_image(), (0, 0, 32, 32), p_fake, p_masked, 128, 1.0)
    assert p_fake == pytest.approx(patch_scorer(patch_image()[None])[0])
    assert set(heat.hottest(4)) == PATCH_CELLS_8
    outside = [heat.drops[r, c] for r in range(8) for c in range(8)
               if (r, c) not in PATCH_CELLS_8]
    assert np.max(np.abs(outside)) == 0.0
    assert np.all(heat.drops[tuple(np.array(sorted(PATCH_CELLS_8)).T)] > 0.01)
    intensity = heat.intensity()
    assert intensity.max() == 1.0 and sorted(map(tuple, np.argwhere(intensity > 0))) == \
        sorted(PATCH_CELLS_8)


def test_a_map_where_nothing_matters_stays_pale_and_names_no_hottest_cell():
    flat = lambda batch: np.full(len(batch), 0.3)  # noqa: E731
    p_fake, p_masked = explain.occlusion(flat, patch_image(), grid=4)
    heat = explain.HeatMap(patch_image(), (0, 0, 32, 32), p_fake, p_masked, 128, 1.0)
    assert heat.intensity().max() == 0.0 and heat.as_dict("x.png")["hottest"] is None
    tiny = p_masked.copy()
    tiny[0, 0] += 0.01  # raises P(fake): not painted either
    tiny[1, 1] -= 0.01  # lowers it by a little: painted faintly, below full scale
    heat = explain.HeatMap(patch_image(), (0, 0, 32, 32), p_fake, tiny, 128, 1.0)
    assert heat.intensity()[0, 0] == 0.0 and 0 < heat.intensity()[1, 1] < 0.2


def test_pngs_put_the_heat_over_the_patch():
    p_fake, p_masked = explain.occlusion(patch_scorer, patch_image(), grid=4)
    heat = explain.HeatMap(patch_image(), (5, 6, 37, 38), p_fake, p_masked, 128, 2.0)
    layer = np.asarray(Image.open(io.BytesIO(heat.layer_png())))
    assert layer.shape == (32, 32, 4)
    top, bottom, left, right = PATCH
    alpha = layer[..., 3].copy()
    assert np.all(alpha[top:bottom, left:right] == round(255 * explain.MAX_ALPHA))
    alpha[top:bottom, left:right] = 0
    assert not alpha.any(), "transparent wherever greying does not lower P(fake)"
    overlay = Image.open(io.BytesIO(heat.overlay_png()))
    assert overlay.mode == "RGB" and overlay.size == (256, 256)  # 32 px x 8
    red = np.asarray(overlay, np.int16)
    redness = red[..., 0] - red[..., 1]
    y, x = np.unravel_index(np.argmax(redness), redness.shape)
    assert top * 8 <= y < bottom * 8 and left * 8 <= x < right * 8
    answer = heat.as_dict("here.png")
    assert answer["png"] == "here.png" and answer["crop"] == [5, 6, 37, 38]
    assert answer["grid"] == 4 and answer["hottest"] == [1, 2] and answer["grey"] == 128
    assert json.loads(json.dumps(answer)) == answer


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_real_tflite_map_points_at_the_patch(patch_models, precision):
    detector = Detector(str(patch_models / f"patch_{precision}.tflite"))
    step = detector.output_step
    assert (step > 0) == (precision == "int8")
    explainer = explain.Explainer(detector, grid=8)
    data = encode(patch_image(3), "PNG")
    verdict, (heat,) = explainer.explain_bytes(data)
    assert verdict.p_fake == detector.classify_bytes(data).p_fake == heat.p_fake
    assert verdict.verdict == "fake" and heat.crop == (0, 0, 32, 32)
    assert set(heat.hottest(4)) == PATCH_CELLS_8
    outside = [heat.drops[r, c] for r in range(8) for c in range(8)
               if (r, c) not in PATCH_CELLS_8]
    assert np.max(np.abs(outside)) <= step * 1.0001 + 1e-6
    assert min(heat.drops[r, c] for r, c in PATCH_CELLS_8) >= 3 * max(step, 1e-3)
    whole = explain.Explainer(detector, grid=4).explain(patch_image(3), (0, 0, 32, 32))
    assert whole.hottest() == [(1, 2)] and whole.max_drop > 0.4


def test_grid_must_fit_the_model(patch_models):
    detector = Detector(str(patch_models / "patch_float32.tflite"))
    for grid in (1, 33, float("nan"), 10**9):
        with pytest.raises(ValueError, match=f"--explain_grid must be a whole number from 2 "
                                             f"to 32, not '{grid}'"):
            explain.Explainer(detector, grid)


def test_masked_copies_are_made_in_bounded_batches():
    """Memory of explain is MASK_BATCH copies whatever the grid (issue 25, case 3)."""
    sizes = []

    def scorer(batch):
        sizes.append(len(batch))
        return patch_scorer(batch)

    p_fake, p_masked = explain.occlusion(scorer, patch_image(), grid=32)
    assert max(sizes) == explain.MASK_BATCH and sum(sizes) == 1 + 32 * 32
    _, whole = explain.occlusion(patch_scorer, patch_image(), grid=32)
    np.testing.assert_array_equal(p_masked, whole)
    batch = explain.masked_copies(patch_image(), 4, explain.GREY, 5, 7)
    np.testing.assert_array_equal(batch, explain.masked_copies(patch_image(), 4)[5:7])


def dfd_lite(*args):
    out = subprocess.run([sys.executable, "-m", "dfd.lite", "classify", *map(str, args)],
                         capture_output=True, text=True, timeout=120)
    return out.returncode, [json.loads(line) for line in out.stdout.splitlines()], out.stderr


@pytest.mark.slow
def test_cli_writes_one_png_per_image_and_a_bad_image_costs_only_itself(patch_models,
                                                                          tmp_path):
    photos = tmp_path / "photos"
    (photos / "a").mkdir(parents=True)
    (photos / "b").mkdir()
    (photos / "a" / "face.png").write_bytes(encode(patch_image(1), "PNG"))
    (photos / "a" / "broken.jpg").write_bytes(jpeg_bytes(40, 40)[:300])
    (photos / "b" / "face.png").write_bytes(encode(patch_image(2), "PNG"))  # same name
    out = tmp_path / "maps" / "new"
    code, lines, err = dfd_lite(patch_models / "patch_int8.tflite", photos, "--explain",
                                f"--explain_dir={out}", "--explain_grid=4")
    assert code == 1, "the broken file is a failure the exit status reports"
    by_name = {line["file"].split("/photos/")[1]: line for line in lines}
    assert set(by_name) == {"a/face.png", "a/broken.jpg", "b/face.png"}
    assert "truncated" in by_name["a/broken.jpg"]["error"]
    assert "explain" not in by_name["a/broken.jpg"]
    pngs = set()
    for name in ("a/face.png", "b/face.png"):
        line = by_name[name]
        assert line["verdict"] == "fake" and line["explain"]["hottest"] == [1, 2]
        png = line["explain"]["png"]
        assert png.startswith(str(out)) and Image.open(png).size == (256, 256)
        pngs.add(png)
    assert len(pngs) == 2 and {p.name for p in out.iterdir()} == {
        p.split("/")[-1] for p in pngs}
    assert err.splitlines()[-1].endswith(f"2 heat maps in {out}")
    code, again, _ = dfd_lite(patch_models / "patch_int8.tflite", photos / "a" / "face.png",
                              "--explain", f"--explain_dir={out}", "--explain_grid=4")
    assert code == 0 and again[0]["explain"]["png"] == by_name["a/face.png"]["explain"]["png"]


@pytest.mark.slow
@pytest.mark.parametrize("args,message", [
    (["--explain"], "--explain needs --explain_dir=DIR"),
    (["--explain_dir={d}"], "--explain_dir only applies with --explain"),
    (["--explain_grid=4"], "--explain_grid only applies with --explain"),
    (["--explain", "--explain_dir={d}", "--explain_grid=1"],
     "argument --explain_grid: must be a whole number from 2 to 32, not '1'"),
    (["--explain", "--explain_dir={d}", "--explain_grid=nan"],
     "argument --explain_grid: must be a whole number from 2 to 32, not 'nan'"),
    (["--explain", "--explain_dir={f}"], "--explain_dir {f} exists and is not a folder"),
])
def test_cli_names_the_flag_of_a_bad_explain_combination(patch_models, tmp_path, args,
                                                         message):
    (tmp_path / "FILE").write_text("not a folder")
    image = tmp_path / "x.png"
    image.write_bytes(encode(patch_image(), "PNG"))
    where = {"d": tmp_path / "d", "f": tmp_path / "FILE"}
    code, lines, err = dfd_lite(patch_models / "patch_float32.tflite", image,
                                *[a.format(**where) for a in args])
    assert code == 2 and not lines
    assert message.format(**where) in err
    assert not (tmp_path / "d").exists(), "nothing is created for a refused command"


@pytest.mark.slow
def test_cli_grid_beyond_its_range_is_one_line_before_any_image(patch_models, tmp_path):
    image = tmp_path / "x.png"
    image.write_bytes(encode(patch_image(), "PNG"))
    code, lines, err = dfd_lite(patch_models / "patch_float32.tflite", image, "--explain",
                                f"--explain_dir={tmp_path}", "--explain_grid=128")
    assert code == 2 and not lines and err.count("\n") == 1
    assert "argument --explain_grid: " in err and "not '128'" in err


@pytest.fixture
def photo_and_maps(tmp_path):
    """A patch photo and an empty folder for its heat maps."""
    out = tmp_path / "maps"
    out.mkdir()
    image = tmp_path / "x.png"
    image.write_bytes(encode(patch_image(), "PNG"))
    return image, out


@pytest.mark.slow
def test_cli_never_writes_through_a_link_planted_at_the_png_name(patch_models, tmp_path,
                                                                 photo_and_maps):
    """Issue 25, case 9: the PNG's name is predictable, so a link there must not be followed."""
    image, out = photo_and_maps
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (out / explain_png_name(image)).symlink_to(victim)
    code, lines, _ = dfd_lite(patch_models / "patch_float32.tflite", image, "--explain",
                              f"--explain_dir={out}", "--explain_grid=4")
    assert code == 0 and victim.read_text() == "keep me"
    png = out / explain_png_name(image)
    assert not png.is_symlink() and png.read_bytes().startswith(b"\x89PNG")
    assert lines[0]["explain"]["png"] == str(png)


@pytest.mark.slow
def test_cli_unwritable_png_keeps_the_verdict_and_fails_the_run(patch_models, photo_and_maps):
    image, out = photo_and_maps
    (out / explain_png_name(image)).mkdir()  # a folder where the PNG should go
    code, lines, _ = dfd_lite(patch_models / "patch_float32.tflite", image, "--explain",
                              f"--explain_dir={out}")
    assert code == 1 and lines[0]["verdict"] == "fake"
    assert lines[0]["explain"]["error"].startswith("cannot write ")


def explain_png_name(path) -> str:
    from dfd.lite.__main__ import explain_name
    return explain_name(str(path))
