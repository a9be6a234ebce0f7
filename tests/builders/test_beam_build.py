"""The Beam form of the builder makes the same dataset as the one-process build.

Beam's DirectRunner costs seconds of start-up per build, so these few tests each build a
whole collection and compare everything the dataset holds: every example's key, label and
stored image bytes, and the metadata (counts, skipped and ignored files with reasons,
source digests, class counts).
"""

import random

import pytest
import tensorflow_datasets as tfds

from dfd.builders.deepfake_real_images import Builder, split_report
from conftest import bad_collection, jpeg_bytes, write_hostile_zip, write_kaggle_folder

MULTI_PROCESS = ("--runner=DirectRunner", "--direct_num_workers=2",
                 "--direct_running_mode=multi_processing")


def build(manual_dir, data_dir, beam_flags=None):
    options = None
    if beam_flags is not None:
        from apache_beam.options.pipeline_options import PipelineOptions
        options = PipelineOptions(list(beam_flags))
    builder = Builder(data_dir=str(data_dir))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=str(manual_dir), beam_options=options))
    return builder


def stored(builder) -> dict:
    """{split: {key: (label, image bytes as stored)}} for every example of every split."""
    out = {}
    for split in builder.info.splits:
        ds = builder.as_dataset(split, decoders={"image": tfds.decode.SkipDecoding()})
        examples = {}
        for ex in tfds.as_numpy(ds):
            key = f"{builder.info.features['label'].int2str(ex['label'])}/" \
                  f"{ex['file_name'].decode()}"
            assert key not in examples, f"{split}: key {key} stored twice"
            examples[key] = (int(ex["label"]), bytes(ex["image"]))
        out[split] = examples
    return out


def assert_same_dataset(plain, beam):
    assert set(plain.info.splits) == set(beam.info.splits)
    for split in plain.info.splits:
        assert plain.info.splits[split].num_examples == beam.info.splits[split].num_examples
    assert plain.info.metadata["splits"] == beam.info.metadata["splits"]
    assert plain.info.metadata["class_counts"] == beam.info.metadata["class_counts"]
    assert stored(plain) == stored(beam)
    leftovers = list(beam.data_path.glob("*beam_report*"))
    assert not leftovers, f"the workers' reports were left in the dataset: {leftovers}"


def records_of_a_split():
    return [split_report.FileRecord((c, i), ("real", "fake")[c], f"{i}.jpg",
                                    ("kept", "skipped", "ignored")[i % 3], f"r{i}",
                                    f"{c}{i:063d}") for c in (0, 1) for i in range(7)]


def test_records_combined_in_any_order_and_grouping_give_the_listing_order_report():
    records = records_of_a_split()
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)
    expected = split_report.summarise("train", records)
    assert split_report.summarise("train", shuffled) == expected
    parts = [split_report.Summary("train") for _ in range(3)]
    for index, record in enumerate(shuffled):
        parts[index % 3].add(record)
    assert parts[2].merge(parts[0]).merge(parts[1]).result() == expected
    report = expected[0]
    assert [e["file"] for e in report["skipped_files"]] == [
        r.key for r in records if r.action == "skipped"]  # in listing order


def test_the_digest_changes_with_any_file():
    records = records_of_a_split()
    digest = split_report.summarise("train", records)[0]["source_sha256"]
    changed = [split_report.FileRecord(*records[0].as_tuple()[:5], "f" * 64)] + records[1:]
    assert split_report.summarise("train", changed)[0]["source_sha256"] != digest
    assert split_report.summarise("train", records[1:])[0]["source_sha256"] != digest
    renamed = [split_report.FileRecord(records[0].order, "real", "other.jpg",
                                       *records[0].as_tuple()[3:])] + records[1:]
    assert split_report.summarise("train", renamed)[0]["source_sha256"] != digest
    assert len(digest) == 64


def test_the_combined_report_holds_no_good_files_records():
    from dfd.builders.deepfake_real_images import beam_generation
    combine = beam_generation.CombineReport("train")
    summary = combine.create_accumulator()
    for i in range(1000):
        summary = combine.add_input(summary, ((0, i), "real", f"{i}.jpg", "kept", "",
                                              f"{i:064d}"))
    assert summary.counts["kept"] == 1000 and not summary.skipped and not summary.ignored
    assert combine.extract_output(combine.merge_accumulators(
        [summary, combine.create_accumulator()])).result()[1]["real"] == 1000


@pytest.mark.slow
def test_bad_files_and_hostile_zip_on_beam_as_in_one_process(tmp_path):
    write_kaggle_folder(tmp_path / "folder", bad_collection())
    plain = build(tmp_path / "folder", tmp_path / "plain")
    beam = build(tmp_path / "folder", tmp_path / "beam", ["--runner=DirectRunner"])
    assert beam.info.metadata["splits"]["train"]["skipped"] == 4
    assert_same_dataset(plain, beam)

    (tmp_path / "zipped").mkdir()
    write_hostile_zip(tmp_path / "zipped" / "kaggle.zip")
    plain = build(tmp_path / "zipped", tmp_path / "plain_zip")
    beam = build(tmp_path / "zipped", tmp_path / "beam_zip", ["--runner=DirectRunner"])
    report = beam.info.metadata["splits"]["train"]
    assert (report["kept"], report["skipped"], report["ignored"]) == (4, 3, 2)
    assert "validation" not in beam.info.splits  # its only file is bad: left out, reported
    assert_same_dataset(plain, beam)


def test_a_file_name_that_is_not_utf8_builds_on_beam_as_in_one_process(tmp_path):
    """Beam encodes strings as UTF-8; names travel as bytes, so such a name fails nothing."""
    import os
    write_kaggle_folder(tmp_path / "folder", bad_collection())
    fake = os.path.join(os.fsencode(tmp_path / "folder" / "Dataset"), b"Train", b"Fake")
    with open(os.path.join(fake, b"caf\xe9.jpg"), "wb") as f:
        f.write(jpeg_bytes(seed=9))
    plain = build(tmp_path / "folder", tmp_path / "plain")
    beam = build(tmp_path / "folder", tmp_path / "beam", ["--runner=DirectRunner"])
    assert_same_dataset(plain, beam)
    assert beam.info.metadata["splits"]["train"]["kept"] == \
        plain.info.metadata["splits"]["train"]["kept"]


@pytest.mark.long
@pytest.mark.slow
@pytest.mark.integration
def test_shared_rff160_plain_equals_beam_with_two_worker_processes(tmp_path, shared_set):
    source = shared_set("rff160")
    plain = build(source, tmp_path / "plain")
    beam = build(source, tmp_path / "beam", MULTI_PROCESS)
    assert beam.info.metadata["class_counts"]["train"] == {"real": 767, "fake": 676}
    assert_same_dataset(plain, beam)
