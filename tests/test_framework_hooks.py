"""Framework internals dfd relies on: each checked for the behaviour dfd needs from it, and
its framework's pin in setup.cfg capped below the first version not tried.

dfd uses a public API wherever one exists (werkzeug's form parser hook replaced
`Request._get_file_stream`; the converter's builtin-only op sets replaced a scan through
LiteRT's `Interpreter._get_ops_details`). What has none is kept and checked here:

- TFDS: the builder overrides `_download_and_prepare` (the only place that sees the
  DownloadConfig's Beam runner and options, which choose the Beam form),
  `_process_pipeline_result` (moves the Beam workers' reports into the metadata),
  `_log_download_bytes` and `_log_download_done` (TFDS prints both in bold on stdout), and
  sets `pkg_dir_path` (an editable install's module path holds no metadata folder;
  tests/test_install.py checks the metadata is read from it).
- waitress: `HTTPChannel.send_continue` is overridden and installed as the server's
  `channel_class`; no public option refuses `Expect: 100-continue` for a request already
  refused (tests/serve/test_protocol.py checks the 413 on the wire).
- Keras: the multi-worker loop assigns `model.optimizer` so that fit's callbacks
  (ReduceLROnPlateau) reach the optimizer it steps.

Raising one of these caps means running this file (and the tests named above) on the new
version first.
"""

import configparser
import importlib.metadata
import inspect
import io

import pytest
from packaging.requirements import Requirement

from conftest import ROOT, jpeg_bytes, write_kaggle_folder

CAPPED = {"tensorflow-datasets": "train", "waitress": "serve", "keras": "train"}
"""Framework -> the setup.cfg extra whose pin carries its upper bound."""


def pins(extra: str) -> dict[str, Requirement]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = config["options.extras_require"][extra].splitlines()
    found = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return {requirement.name: requirement for requirement in found}


@pytest.mark.parametrize("framework", sorted(CAPPED))
def test_each_hooked_framework_is_capped_and_the_installed_version_is_inside(framework):
    requirement = pins(CAPPED[framework])[framework]
    assert any(spec.operator in ("<", "<=", "==", "~=") for spec in requirement.specifier), \
        f"setup.cfg [{CAPPED[framework]}] {requirement} has no upper bound"
    installed = importlib.metadata.version(framework)
    assert requirement.specifier.contains(installed), (str(requirement), installed)


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_tfds_builder_methods_dfd_overrides_keep_their_signatures():
    import tensorflow_datasets as tfds

    base = tfds.core.GeneratorBasedBuilder
    assert parameters(base._download_and_prepare) == ["self", "dl_manager", "download_config"]
    assert parameters(base._process_pipeline_result) == ["self", "pipeline_result"]
    assert parameters(base._log_download_bytes) == ["self"]
    assert parameters(base._log_download_done) == ["self"]
    assert "pkg_dir_path" in vars(tfds.core.DatasetBuilder)
    config = tfds.download.DownloadConfig()
    assert config.beam_runner is None and config.beam_options is None


def test_a_plain_build_passes_through_the_overridden_methods(tmp_path, monkeypatch, capsys):
    """TFDS still calls each override (and prints nothing of its own instead of the log
    lines); a Beam build's call of `_process_pipeline_result` is what
    tests/builders/test_beam_build.py's metadata comparison rests on."""
    import tensorflow_datasets as tfds

    from dfd.builders.deepfake_real_images import Builder

    calls = []
    for name in ("_download_and_prepare", "_log_download_bytes", "_log_download_done"):
        original = getattr(Builder, name)

        def spy(self, *args, _original=original, _name=name, **kwargs):
            calls.append((_name, [type(a).__name__ for a in args],
                          {key: type(value).__name__ for key, value in kwargs.items()}))
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(Builder, name, spy)
    source = write_kaggle_folder(tmp_path / "src", {
        f"{split}/{label}/0.jpg": jpeg_bytes(seed=i) for i, (split, label) in enumerate(
            (s, c) for s in ("Train", "Test") for c in ("Real", "Fake"))})
    builder = Builder(data_dir=str(tmp_path / "out"))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(source.parent)))
    assert [name for name, _, _ in calls] == [
        "_log_download_bytes", "_download_and_prepare", "_log_download_done"]
    passed = calls[1][1] + sorted(calls[1][2].values())
    assert sorted(passed) == ["DownloadConfig", "DownloadManager"], calls[1]
    assert builder.info.splits["train"].num_examples == 2
    assert "Downloading and preparing" not in capsys.readouterr().out


def test_waitress_channel_hook_and_the_request_fields_it_reads():
    import waitress.server
    from waitress.channel import HTTPChannel
    from waitress.parser import HTTPRequestParser

    from dfd.serve.server import RefusingChannel, create_server

    assert parameters(HTTPChannel.send_continue) == ["self"]
    assert HTTPRequestParser.expect_continue is False and HTTPRequestParser.error is None
    assert waitress.server.BaseWSGIServer.channel_class is HTTPChannel
    server = create_server(lambda environ, start: [], "127.0.0.1", 0, threads=1,
                           max_upload_bytes=1024)
    try:
        assert server.channel_class is RefusingChannel
    finally:
        server.close()


def test_keras_callbacks_reach_an_optimizer_assigned_to_the_model():
    """What the multi-worker loop does instead of compile(): callbacks find the optimizer
    through `model.optimizer` and change the one the loop steps."""
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    optimizer = keras.optimizers.Adam(1e-3)
    model.optimizer = optimizer
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1,
                                                verbose=0)
    callbacks = keras.callbacks.CallbackList([plateau], model=model)
    callbacks.on_train_begin()
    for epoch in range(2):  # no better loss after the first epoch: the rate halves once
        callbacks.on_epoch_end(epoch, {"loss": 1.0})
    assert model.optimizer is optimizer
    assert float(optimizer.learning_rate) == pytest.approx(5e-4)


def test_form_file_parts_stay_in_memory_through_werkzeugs_public_parser_hook(monkeypatch):
    """The replacement of `Request._get_file_stream`: a 1 MB part (past Werkzeug's 500 KB
    spooling threshold) is parsed into memory and no temporary file is opened."""
    import tempfile

    import flask

    from dfd.serve.app import InMemoryRequest

    def refuse(*args, **kwargs):
        raise AssertionError("a form part was about to be written to a temporary file")
    for name in ("TemporaryFile", "NamedTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    app = flask.Flask(__name__)
    app.request_class = InMemoryRequest
    data = b"\xff" * (1024 * 1024)
    with app.test_request_context("/", method="POST", content_type="multipart/form-data",
                                  data={"file": (io.BytesIO(data), "big.jpg")}):
        stored = flask.request.files["file"]
        assert isinstance(stored.stream, io.BytesIO) and stored.read() == data
