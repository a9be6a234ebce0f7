"""What the edge runtime may depend on: checked from its source and from its install."""

import ast
import configparser
import json
import pathlib
import subprocess
import sys

import pytest

from conftest import ROOT
from dfd.lite import interpreter

STDLIB = set(sys.stdlib_module_names)
SHARED = {"numpy", "PIL", "dfd.common", "dfd.imaging"}
ALLOWED = {
    "dfd/common": SHARED,
    "dfd/imaging": SHARED,
    "dfd/lite": SHARED | {"dfd.lite"},
    "dfd/serve": SHARED | {"dfd.lite", "dfd.serve", "flask", "waitress", "werkzeug"},
    "dfd/score": SHARED | {"dfd.lite", "dfd.score", "apache_beam", "pyarrow"},
}
"""What each room without TensorFlow may import besides the standard library: never
TensorFlow, never the training or evaluation rooms (dfd.train, dfd.evaluate), never the
binaries' helpers (dfd.cli) or the export room; the shared room and the decoding gate only."""


def imported_modules(path: pathlib.Path) -> set[str]:
    """Every module a file imports; `from dfd.train import models` counts as dfd.train.models,
    so importing a training module through its package is caught too."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def allowed(room: str, name: str) -> bool:
    return name.split(".")[0] in STDLIB or any(
        name == a or name.startswith(a + ".") for a in ALLOWED[room])


def test_the_rule_refuses_training_modules_and_tensorflow():
    for room in ALLOWED:
        for name in ("dfd.train.pipeline.build_dataset", "dfd.train", "dfd.train.models.build",
                     "dfd.evaluate.robustness", "dfd.export.tflite", "dfd.cli.quiet",
                     "tensorflow", "keras", "absl.flags"):
            assert not allowed(room, name), (room, name)
    assert allowed("dfd/lite", "dfd.common.spec.LABELS") and allowed("dfd/lite", "os.path")


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_room_imports_nothing_from_training_or_tensorflow(room):
    files = sorted((ROOT / room).rglob("*.py"))  # every sub-folder: dfd/lite/faces too
    assert files, f"{room} has no modules"
    for path in files:
        for name in imported_modules(path):
            assert allowed(room, name), f"{path.relative_to(ROOT)} imports {name}"


def test_interpreter_lookup_only_names_tensorflow_as_a_last_resort():
    assert [label for _, label in interpreter.CANDIDATES] == [
        "ai_edge_litert", "tflite_runtime", "tensorflow.lite"]


def test_missing_interpreter_says_what_to_install(monkeypatch):
    monkeypatch.setattr(interpreter, "CANDIDATES", (("no_such_litert.interpreter", "a"),
                                                    ("no_such_tflite.interpreter", "b")))
    with pytest.raises(interpreter.NoInterpreterError, match=r'pip install "dfd\[edge\]"'):
        interpreter.interpreter_class()


def setup_cfg():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def requirement_names(text: str) -> set[str]:
    lines = [line.split("#")[0].strip() for line in text.strip().splitlines()]
    return {line.split(">")[0].split("=")[0].split("<")[0].strip().lower()
            for line in lines if line}


def test_base_and_edge_install_declare_only_the_runtime():
    config = setup_cfg()
    assert requirement_names(config["options"]["install_requires"]) == {"numpy", "pillow"}
    assert requirement_names(config["options.extras_require"]["edge"]) == {"ai-edge-litert"}
    assert requirement_names(config["options.extras_require"]["score"]) == {
        "apache-beam", "ai-edge-litert"}


def resolved_install(extra: str, tmp_path) -> set[str]:
    """What pip would really install for dfd[extra], dependencies of dependencies included."""
    report = tmp_path / f"report-{extra}.json"
    subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                    "--quiet", "--report", str(report), f"{ROOT}[{extra}]"], check=True,
                   capture_output=True, timeout=300)
    return {item["metadata"]["name"].lower().replace("_", "-")
            for item in json.loads(report.read_text())["install"]}


@pytest.mark.slow
def test_edge_install_resolves_to_no_tensorflow_and_no_web_server(tmp_path):
    names = resolved_install("edge", tmp_path)
    assert {"dfd", "numpy", "pillow", "ai-edge-litert"} <= names
    heavy = {n for n in names if n.startswith(("tensorflow", "keras", "torch", "jax", "flask",
                                               "absl", "apache-beam", "matplotlib"))}
    assert not heavy, f"dfd[edge] would install {sorted(heavy)}"


@pytest.mark.slow
def test_score_install_resolves_to_beam_and_the_runtime_without_tensorflow(tmp_path):
    """Cluster workers install dfd[score]: Beam and the edge runtime, nothing to train with."""
    names = resolved_install("score", tmp_path)
    assert {"dfd", "numpy", "pillow", "ai-edge-litert", "apache-beam", "pyarrow"} <= names
    heavy = {n for n in names if n.startswith(("tensorflow", "keras", "torch", "jax", "flask",
                                               "matplotlib", "tensorboard"))}
    assert not heavy, f"dfd[score] would install {sorted(heavy)}"
