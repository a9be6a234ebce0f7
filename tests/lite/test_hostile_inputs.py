"""Property-based: random flag values, file names and damaged model.json files fed to the
entry points of dfd-lite, dfd-serve and dfd-score (issue 25). Each answer is a result, or
one line on stderr and exit status 2; never a traceback (an exception escaping `main`).

Bounded: a fixed number of examples per property (derandomized, no example database), so
the whole file takes well under a minute once the shared tiny export exists.
"""

import copy
import json
import os
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import jpeg_bytes
from dfd.lite import __main__ as lite_cli
from dfd.lite import options
from dfd.score import __main__ as score_cli
from dfd.serve import __main__ as serve_cli
from dfd.serve import server

pytestmark = pytest.mark.slow

BOUNDED = settings(deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture,
                                          HealthCheck.too_slow])
TRIED = {"cards": 0, "flags": 0, "names": 0, "score_names": 0, "upload_names": 0}
"""How many of each the properties fed in (`pytest -s` prints them, for BUILD_NOTES)."""


class ReachedThePipeline(Exception):
    """dfd-score accepted the model and its flags; the Beam run itself is not this test's."""


class NoServer:
    def run(self):
        pass

    def close(self):
        pass


@pytest.fixture
def programs(monkeypatch):
    """Each program's `main(argv)` -> exit status, stopped where the work would begin."""
    def no_pipeline(_):
        raise ReachedThePipeline
    monkeypatch.setattr(score_cli, "check_inputs", no_pipeline)
    monkeypatch.setattr(server, "create_server", lambda *a, **k: NoServer())
    return {"dfd-lite": lambda model, image, *flags: lite_cli.main(
                ["classify", str(model), str(image), *flags]),
            "dfd-serve": lambda model, image, *flags: serve_cli.main(
                [f"--model={model}", *flags]),
            "dfd-score": lambda model, image, *flags: score_cli.main(
                [f"--model={model}", f"--input={image}", "--output=/nonexistent/out",
                 *flags])}


def outcome(run, capsys, *args) -> tuple[int, str]:
    """(exit status, stderr); any exception but SystemExit fails the test (a traceback)."""
    try:
        code = run(*args)
    except SystemExit as e:
        code = e.code
    except ReachedThePipeline:
        code = 0
    return code, capsys.readouterr().err


def assert_result_or_one_line(prog: str, code: int, err: str):
    assert "Traceback" not in err, err
    if code == 2:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith(prog), err
    else:
        assert code in (0, 1), (code, err)


@pytest.fixture
def bundle(tiny_export, tmp_path):
    folder = tmp_path / "bundle"
    shutil.copytree(tiny_export, folder, ignore=shutil.ignore_patterns("saved_model"))
    image = tmp_path / "photo.jpg"
    image.write_bytes(jpeg_bytes(64, 64))
    return folder, image, json.loads((folder / "model.json").read_text())


def member_paths(value, prefix=()):
    """Every key path inside a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield prefix + (key,)
            yield from member_paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield prefix + (index,)
            yield from member_paths(item, prefix + (index,))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats()
    | st.text(max_size=12) | st.sampled_from(["model_int8.tflite", "../model.json", "", "a" * 64]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=6)


@st.composite
def damaged_cards(draw, card):
    """model.json text: one member replaced or deleted, or the text cut or not UTF-8."""
    kind = draw(st.sampled_from(["replace", "replace", "replace", "delete", "cut", "bytes"]))
    text = json.dumps(card)
    if kind == "cut":
        return text.encode()[:draw(st.integers(0, len(text) - 1))]
    if kind == "bytes":
        at = draw(st.integers(0, len(text)))
        return text.encode()[:at] + draw(st.binary(min_size=1, max_size=4)) + \
            text.encode()[at:]
    mutated = copy.deepcopy(card)
    path = draw(st.sampled_from(sorted(member_paths(mutated), key=repr)))
    parent = mutated
    for key in path[:-1]:
        parent = parent[key]
    if kind == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(JSON_VALUES)
    return json.dumps(mutated).encode()  # NaN and Infinity included, as "NaN"


def test_damaged_model_cards_are_one_line_everywhere(bundle, programs, capsys):
    folder, image, card = bundle
    model = folder / "model_int8.tflite"

    @settings(BOUNDED, max_examples=16)
    @given(damaged_cards(card))
    def property(data):
        TRIED["cards"] += 1
        (folder / "model.json").write_bytes(data)
        for prog, run in programs.items():
            code, err = outcome(run, capsys, model, image, "--kernels=builtin")
            assert_result_or_one_line(prog, code, err)

    property()
    print(f"damaged model cards tried: {TRIED['cards']}, each by {', '.join(programs)}; "
          f"0 tracebacks")


NUMERIC_FLAGS = {
    "dfd-lite": ["--threads", "--min_face", "--max_file_mb", "--explain_grid", "--threshold"],
    "dfd-serve": ["--port", "--request_threads", "--model_threads", "--min_face",
                  "--max_file_mb", "--max_decodes", "--max_connections", "--threshold"],
    "dfd-score": ["--threads", "--min_face", "--max_file_mb", "--batch_size", "--threshold"],
}
FLAG_VALUES = st.one_of(st.floats().map(repr), st.integers(-10 ** 6, 10 ** 12).map(str),
                        st.sampled_from(["nan", "-inf", "1e-300", "1e300", "0", "-0", "32",
                                         "8", "0.5", "eer_validation", "default"]),
                        st.text(max_size=10))


def test_random_flag_values_are_a_result_or_one_line(bundle, programs, capsys, tmp_path):
    folder, image, _ = bundle
    model = folder / "model_int8.tflite"

    @settings(BOUNDED, max_examples=40)
    @given(st.sampled_from(sorted(NUMERIC_FLAGS)), st.data())
    def property(prog, data):
        TRIED["flags"] += 1
        flag = data.draw(st.sampled_from(NUMERIC_FLAGS[prog]))
        value = data.draw(FLAG_VALUES)
        extra = ["--explain", f"--explain_dir={tmp_path / 'maps'}"] if \
            flag == "--explain_grid" else []
        code, err = outcome(programs[prog], capsys, model, image, "--kernels=builtin",
                            f"{flag}={value}", *extra)
        assert_result_or_one_line(prog, code, err)

    property()
    print(f"flag values tried: {TRIED['flags']}; 0 tracebacks")


NAMES = st.binary(min_size=1, max_size=40).filter(
    lambda n: b"/" not in n and b"\0" not in n and n not in (b".", b".."))


def test_any_file_name_is_answered_and_explained(bundle, capsys, tmp_path):
    """Names that are not UTF-8 included (issue 25, case 4): each gets its line, its file
    name back through os.fsencode, and its heat map."""
    folder, _, _ = bundle
    good = jpeg_bytes(48, 48)

    @settings(BOUNDED, max_examples=10)
    @given(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    def property(names):
        TRIED["names"] += len(names)
        photos = tmp_path / "photos"
        maps = tmp_path / "maps"
        shutil.rmtree(photos, ignore_errors=True)
        shutil.rmtree(maps, ignore_errors=True)
        photos.mkdir()
        paths = []
        for name in names:
            path = os.path.join(os.fsencode(photos), name)
            with open(path, "wb") as f:
                f.write(good)
            paths.append(os.fsdecode(path))
        code = lite_cli.main(["classify", str(folder / "model_int8.tflite"), *paths,
                              "--kernels=builtin", "--explain", f"--explain_dir={maps}"])
        out, err = capsys.readouterr()
        assert code == 0 and "Traceback" not in err, err
        lines = [json.loads(line) for line in out.splitlines()]
        assert [os.fsencode(line["file"]) for line in lines] == [os.fsencode(p) for p in paths]
        for line in lines:
            entries = [line.get("explain")] + [f.get("explain") for f in line.get("faces", [])]
            for entry in filter(None, entries):
                assert os.path.isfile(entry["png"])

    property()
    print(f"file names tried: {TRIED['names']} (by dfd-lite with --explain); 0 tracebacks")



def test_any_upload_name_is_answered_and_shown_escaped(bundle):
    """dfd-serve's page shows each upload under the client's own file name: any bytes a
    browser can send there (markup, quotes as %22, bytes that are not UTF-8) get their
    result, escaped, never a 500; a header a browser would never send (a raw line break in
    the name) is that request's 400, and the server answers the next one."""
    import io
    import re

    from dfd.lite.detector import Detector
    from dfd.serve.app import create_app
    folder, _, _ = bundle
    client = create_app(Detector(str(folder / "model_int8.tflite"))).test_client()
    good = jpeg_bytes(48, 48)

    def post(filename: bytes):
        body = (b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + filename
                + b"\"\r\nContent-Type: image/jpeg\r\n\r\n" + good + b"\r\n--B--\r\n")
        return client.post("/", data=io.BytesIO(body),
                           content_type="multipart/form-data; boundary=B")

    @settings(BOUNDED, max_examples=24)
    @given(st.binary(min_size=1, max_size=40).filter(
               lambda n: not any(c in n for c in b'"\r\n'))
           | st.sampled_from([b"<script>x</script>", b"caf\xe9.jpg", b"\xff\xfe", b"%22%0A"]))
    def property(name):
        TRIED["upload_names"] += 1
        response = post(name)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, (name, page[-500:])
        assert len(re.findall(r'class="result (fake|real|uncertain)"', page)) == 1, name
        assert "<script>x</script>" not in page

    property()
    broken = post(b"a\r\nX-Injected: 1")
    assert broken.status_code == 400 and "Traceback" not in broken.get_data(as_text=True)
    assert post(b"after.jpg").status_code == 200
    print(f"upload names tried: {TRIED['upload_names']} (by dfd-serve's page); 0 errors")


def test_any_file_name_is_answered_by_dfd_score(bundle, capsys, tmp_path):
    """The same random names through a real Beam run (issue 25, case 5: one such name once
    failed the whole job with no output): every file its record, each name given back
    exactly through os.fsencode."""
    folder, _, _ = bundle
    good = jpeg_bytes(48, 48)

    @settings(BOUNDED, max_examples=6)  # about a second per Beam run
    @given(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    def property(names):
        TRIED["score_names"] += len(names)
        photos, out = tmp_path / "photos", tmp_path / "out"
        shutil.rmtree(photos, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
        photos.mkdir()
        for name in names:
            with open(os.path.join(os.fsencode(photos), name), "wb") as f:
                f.write(good)
        code = score_cli.main([f"--model={folder / 'model_int8.tflite'}",
                               f"--input={photos}/*", f"--output={out}/scores",
                               "--kernels=builtin", "--runner=DirectRunner"])
        err = capsys.readouterr().err
        assert code == 0 and "Traceback" not in err, err
        answered = [os.fsencode(json.loads(line)["file"])
                    for path in sorted(out.glob("scores-*.jsonl")) for line in open(path)]
        assert sorted(answered) == sorted(os.path.join(os.fsencode(photos), n) for n in names)

    property()
    print(f"file names tried: {TRIED['score_names']} (by dfd-score on Beam); 0 tracebacks")


@pytest.mark.parametrize("keys,value", [
    (("face_detector", "anchors", "strides"), [0]),
    (("face_detector", "anchors", "num_layers"), 0),
    (("face_detector", "crop", "side_over_box"), -1),
    (("face_detector", "input_size"), [0, 0]),
    (("face_detector", "file"), "../model.json"),
])
def test_a_face_detector_the_search_could_not_use_is_refused_before_any_start(
        bundle, programs, capsys, keys, value):
    """Issue 25, case 7: bundles like these once let dfd-serve start, healthy, and answer
    500 to every upload with a face; now each program refuses them in one line naming the
    field, and dfd-serve never reaches its server."""
    folder, image, card = bundle
    target = card
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    (folder / "model.json").write_text(json.dumps(card))
    for prog, run in programs.items():
        code, err = outcome(run, capsys, folder / "model_int8.tflite", image,
                            "--kernels=builtin")
        assert code == 2, (prog, code, err)
        assert_result_or_one_line(prog, code, err)
        assert ".".join(keys) in err, err
