"""The Beam benchmark's own arithmetic: the start-up source and the 10M-image estimate."""

from conftest import jpeg_bytes, write_kaggle_folder
from benchmarks import beam


def test_startup_source_holds_one_file_per_split_and_class(tmp_path):
    source = write_kaggle_folder(tmp_path / "src", {
        f"{s}/{c}/{i}.jpg": jpeg_bytes(seed=i) for s in ("Train", "Test")
        for c in ("Real", "Fake") for i in range(3)})
    assert beam.startup_source(str(source), str(tmp_path / "tiny")) == 4
    assert sorted(p.relative_to(tmp_path / "tiny").as_posix()
                  for p in (tmp_path / "tiny").rglob("*.jpg")) == [
        "Dataset/Test/Fake/0.jpg", "Dataset/Test/Real/0.jpg",
        "Dataset/Train/Fake/0.jpg", "Dataset/Train/Real/0.jpg"]


def row(rate, cpu_s):
    return {"images_per_s_after_startup": rate, "cpu_s": cpu_s}


def test_estimate_uses_the_measured_scaling_and_cpu_time():
    rows = {"tfds build, Beam 1 worker": row(100.0, 10_000.0),
            "tfds build, Beam 2 workers": row(150.0, 10_000.0),
            "dfd-score, 1 worker": row(100.0, 10_000.0),
            "dfd-score, 2 workers": row(None, 10_000.0)}
    build, build_cpu, score, score_cpu = beam.estimate(rows, images=10_000)
    # 2 workers at 1.5x: 75 images/s each; 10M / (75 * 3600) = 37.04 -> 38 workers
    assert "x1.50 on 2" in build and "about 38 single-core workers" in build
    # 1 image per CPU second: 10M core-seconds = 2778 core-hours
    assert "2778 core-hours" in build_cpu
    assert "no estimate" in score and "2778 core-hours" in score_cpu
