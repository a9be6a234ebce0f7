"""Whole builds: every bad-file case in one folder, the zip form, and a real shared set."""

import json
import zipfile

import pytest
import tensorflow_datasets as tfds

from dfd.builders.deepfake_real_images import Builder
from conftest import bad_collection, jpeg_bytes, write_hostile_zip, write_kaggle_folder


def build(manual_dir, data_dir):
    builder = Builder(data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder


def test_build_survives_every_bad_file_and_counts_them(tmp_path):
    write_kaggle_folder(tmp_path / "src", bad_collection())
    builder = build(tmp_path / "src", tmp_path / "out")
    assert builder.info.splits["train"].num_examples == 8  # 6 good + 2 converted
    assert builder.info.splits["test"].num_examples == 2
    report = builder.info.metadata["splits"]["train"]
    assert (report["kept"], report["converted"], report["skipped"]) == (6, 2, 4)
    skipped = {entry["file"] for entry in report["skipped_files"]}
    assert skipped == {"fake/zero.jpg", "fake/truncated.jpg", "real/text.jpg", "real/bomb.jpg"}
    names = sorted(ex["file_name"].decode() for ex in tfds.as_numpy(builder.as_dataset("train")))
    assert "alpha.png" in names and "gray.jpg" in names and "zero.jpg" not in names
    labels = {ex["file_name"].decode(): ex["label"]
              for ex in tfds.as_numpy(builder.as_dataset("train"))}
    assert labels["fake_0.jpg"] == 1 and labels["real_0.jpg"] == 0
    saved = json.loads((tmp_path / "out" / "deepfake_real_images" / str(Builder.VERSION) /
                        "metadata.json").read_text())
    assert saved["class_counts"]["train"] == {"real": 4, "fake": 4}


def test_zip_and_folder_builds_hold_the_same_files(tmp_path):
    dataset = write_kaggle_folder(tmp_path / "src", {
        f"{s}/{c}/{i}.jpg": jpeg_bytes(seed=i) for s in ("Train", "Test")
        for c in ("Real", "Fake") for i in range(2)})
    (tmp_path / "zipped").mkdir()
    with zipfile.ZipFile(tmp_path / "zipped" / "archive.zip", "w") as z:
        for path in sorted(dataset.rglob("*.jpg")):
            z.write(path, path.relative_to(tmp_path / "src"))
    from_folder = build(tmp_path / "src", tmp_path / "out1").info.metadata
    from_zip = build(tmp_path / "zipped", tmp_path / "out2").info.metadata
    for split in ("train", "test"):
        assert from_folder["splits"][split]["source_sha256"] == \
            from_zip["splits"][split]["source_sha256"]
    assert len(from_zip["source"]["archive_sha256"]) == 64


def test_missing_source_fails_with_instructions(tmp_path):
    (tmp_path / "wrong").mkdir()
    (tmp_path / "wrong" / "notes.txt").write_text("the zip is somewhere else")
    with pytest.raises(FileNotFoundError, match="(?s)neither Dataset.*Download"):
        build(tmp_path / "wrong", tmp_path / "out")


@pytest.mark.integration
def test_builds_real_shared_faces(tmp_path, shared_set):
    builder = build(shared_set("rff160"), tmp_path / "out")
    counts = builder.info.metadata["class_counts"]
    assert counts["train"] == {"real": 767, "fake": 676}
    assert counts["test"] == {"real": 154, "fake": 156}
    assert builder.info.metadata["splits"]["train"]["skipped"] == 0


def test_hostile_zip_builds_with_every_bad_entry_counted(tmp_path):
    """Bad CRC, encryption, a link, an oversized entry, hidden, backup and duplicate names:
    the build finishes, nothing is extracted, and every entry is accounted for."""
    import os
    (tmp_path / "zipped").mkdir()
    write_hostile_zip(tmp_path / "zipped" / "kaggle.zip")
    before = sorted(os.listdir(tmp_path / "zipped"))
    builder = build(tmp_path / "zipped", tmp_path / "out")
    assert sorted(os.listdir(tmp_path / "zipped")) == before, "the zip was extracted"
    assert builder.info.splits["train"].num_examples == 4
    report = builder.info.metadata["splits"]["train"]
    assert (report["kept"], report["skipped"], report["ignored"]) == (4, 3, 2)
    assert report["files"] == 9
    assert "validation" not in builder.info.splits
    empty = builder.info.metadata["splits"]["validation"]
    assert (empty["files"], empty["skipped"]) == (1, 1)
    assert "not an image" in empty["skipped_files"][0]["reason"]


def test_release_notes_of_this_version_name_the_metadata_it_writes():
    """1.1.0 added `ignored` counts to the metadata; a data dir built by 1.0.0 lacks them,
    so the version must say so (tfds.builder then asks for a rebuild instead of loading
    the old files as if they were the same dataset)."""
    notes = Builder.RELEASE_NOTES[str(Builder.VERSION)]
    assert Builder.VERSION > "1.0.0" and "ignored" in notes and "skipped" in notes


def test_a_file_name_that_is_not_utf8_is_built_and_named_with_escapes(tmp_path):
    """File names are bytes (issue 25): one that is not UTF-8 is stored, keyed and reported
    with a backslash escape per stray byte (`split_report.printable`)."""
    import os
    dataset = write_kaggle_folder(tmp_path / "src", {
        f"Train/{c}/{i}.jpg": jpeg_bytes(seed=i) for c in ("Real", "Fake") for i in range(2)})
    with open(os.path.join(os.fsencode(dataset), b"Train", b"Fake", b"caf\xe9.jpg"), "wb") as f:
        f.write(jpeg_bytes(seed=7))
    with open(os.path.join(os.fsencode(dataset), b"Train", b"Real", b"\xff.jpg"), "wb") as f:
        f.write(b"not a picture")
    builder = build(tmp_path / "src", tmp_path / "out")
    names = [ex["file_name"].decode() for ex in tfds.as_numpy(builder.as_dataset("train"))]
    assert "caf\\xe9.jpg" in names and len(names) == 5
    report = builder.info.metadata["splits"]["train"]
    assert [entry["file"] for entry in report["skipped_files"]] == ["real/\\xff.jpg"]
