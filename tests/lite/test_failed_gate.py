"""A failed or never-run export gate, recorded per artifact in model.json, is refused by
dfd-lite, dfd-serve and dfd-score with the gate's figures; --allow_failed_gate runs it and
says so on stderr, in /healthz and in the page footer (issue 22, section 4)."""

import json
import shutil

import pytest

from conftest import jpeg_bytes
from dfd.lite import __main__ as lite_cli
from dfd.lite.detector import Detector
from dfd.score import __main__ as score_cli
from dfd.serve import __main__ as serve_cli
from dfd.serve import server
from dfd.serve.app import create_app

pytestmark = pytest.mark.slow

FAILURE = "int8 AUC 0.6100 is 0.3000 below the SavedModel's 0.9100 on test (allowed 0.0100)"


@pytest.fixture(params=["failed", "pending"])
def failed_bundle(request, tiny_export, tmp_path):
    folder = tmp_path / "bundle"
    shutil.copytree(tiny_export, folder, ignore=shutil.ignore_patterns("saved_model"))
    card = json.loads((folder / "model.json").read_text())
    assert card["artifacts"]["model_int8.tflite"]["gate"]["status"] == "passed"
    card["artifacts"]["model_int8.tflite"]["gate"] = (
        {"status": "failed", "passed": False, "failures": [FAILURE]}
        if request.param == "failed" else {"status": "pending", "failures": []})
    (folder / "model.json").write_text(json.dumps(card))
    image = tmp_path / "photo.jpg"
    image.write_bytes(jpeg_bytes(48, 48))
    reason = FAILURE if request.param == "failed" else "never judged by the export's gate"
    return folder / "model_int8.tflite", image, reason


def test_the_export_records_a_passed_gate_for_each_quantized_file(tiny_export):
    artifacts = json.loads((tiny_export / "model.json").read_text())["artifacts"]
    for name in ("model_int8.tflite", "model_float16.tflite"):
        gate = artifacts[name]["gate"]
        assert gate["status"] == "passed" and gate["failures"] == []
        assert {"auc_drop", "allowed_auc_drop", "confident_verdict_flips"} <= set(gate)


def test_every_program_refuses_it_in_one_line_naming_the_figures(failed_bundle, capsys,
                                                                 monkeypatch):
    model, image, reason = failed_bundle
    monkeypatch.setattr(server, "create_server", lambda *a, **k: pytest.fail("started"))
    runs = {"dfd-lite": lambda: lite_cli.main(["classify", str(model), str(image)]),
            "dfd-serve": lambda: serve_cli.main([f"--model={model}"]),
            "dfd-score": lambda: score_cli.main([f"--model={model}", f"--input={image}",
                                                 "--output=/nonexistent/out"])}
    for prog, run in runs.items():
        assert run() == 2, prog
        out, err = capsys.readouterr()
        assert err.count("\n") == 1 and err.startswith(f"{prog}: model_int8.tflite ")
        assert reason in err and "--allow_failed_gate runs it anyway" in err


def test_allow_failed_gate_runs_it_and_says_so_everywhere(failed_bundle, capsys):
    model, image, reason = failed_bundle
    assert lite_cli.main(["classify", str(model), str(image), "--allow_failed_gate"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("dfd-lite: running anyway (--allow_failed_gate): ") and reason in err
    app = create_app(Detector(str(model), allow_failed_gate=True)).test_client()
    health = app.get("/healthz").get_json()
    assert reason in health["warning"] and reason in health["model"]["gate_note"]
    page = app.get("/").get_data(as_text=True)
    assert 'id="gate-warning"' in page and "--allow_failed_gate" in page
